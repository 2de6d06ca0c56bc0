/*
 * test_sigkill.c — crash safety of delivery: a child delivers messages in
 * a loop (group commits of three) and is killed with SIGKILL at random
 * moments; another child is killed in the middle of writing a 16 MB
 * message. Afterwards new/ and cur/ must hold only complete messages
 * (each carries its own line count and an END line; S= and W= match),
 * while tmp/ may hold partial ones. The random delays come from a fixed
 * seed; the checks do not depend on where the kill lands.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "maildir/maildir_name.h"
#include "mdtest.h"

#define ROUNDS 10

/* Stream a message of `lines` body lines; if sync_fd >= 0, report after
 * half of it and then stop (the parent kills us). */
static int deliver_lines(struct store *s, int id, int lines, int sync_fd)
{
	char line[128];
	struct flagset f;
	struct store_writer *w;
	struct err e;
	flagset_init(&f);
	if (id % 2)
		flagset_parse(&f, "\\Seen");
	int rc = s->ops->append_begin(s, &f, 1600000000, 0, &w, &e);
	flagset_free(&f);
	if (rc < 0)
		return -1;
	int n = snprintf(line, sizeof line, "Message-ID: <%d.%d@t>\r\nX-Lines: %d\r\n\r\n",
			 (int)getpid(), id, lines);
	s->ops->append_write(w, line, (size_t)n, &e);
	for (int j = 0; j < lines; j++) {
		n = snprintf(line, sizeof line,
			     "line %08d of message %d, padding padding padding padding\r\n", j, id);
		if (s->ops->append_write(w, line, (size_t)n, &e) < 0)
			return -1;
		if (sync_fd >= 0 && j == lines / 2) {
			if (write(sync_fd, "h", 1) != 1)
				_exit(3);
			for (;;)
				pause();
		}
	}
	s->ops->append_write(w, "END\r\n", 5, &e);
	return s->ops->append_end(w, 1, NULL, NULL, &e);
}

static void child_loop(const char *root, unsigned seed)
{
	struct store *s;
	struct err e;
	struct store_box_state st;
	struct maildir_opts o = { 0 };
	if (maildir_store_open(root, &o, &s, &e) < 0 || s->ops->open_box(s, "INBOX", 0, &st, &e) < 0)
		_exit(2);
	for (int id = 0;; id++) {
		if (deliver_lines(s, id, (int)(rand_r(&seed) % 3000), -1) < 0)
			_exit(4);
		if (id % 3 == 2 && s->ops->flush(s, &e) < 0)
			_exit(5);
	}
}

/* Every message file in dir/sub is complete. Returns how many. */
static int check_complete(const char *dir, const char *sub)
{
	char p[1400];
	snprintf(p, sizeof p, "%s/%s", dir, sub);
	DIR *d = opendir(p);
	struct dirent *de;
	int n = 0;
	struct buf b;
	buf_init(&b, 0);
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "%s/%s/%s", dir, sub, de->d_name);
		int fd = open(p, O_RDONLY);
		char tmp[65536];
		ssize_t r;
		buf_reset(&b);
		while (fd >= 0 && (r = read(fd, tmp, sizeof tmp)) > 0)
			buf_add(&b, tmp, (size_t)r);
		close(fd);
		int lines = -1;
		const char *x = strstr(b.data, "X-Lines: ");
		if (x)
			lines = atoi(x + 9);
		const char *body = strstr(b.data, "\n\n");
		int got = 0;
		for (const char *q = body ? body + 2 : b.data; *q; q++)
			got += *q == '\n';
		int ok = lines >= 0 && body && got == lines + 1 && b.len >= 4 &&
			 strcmp(b.data + b.len - 4, "END\n") == 0 && !memchr(b.data, '\r', b.len);
		struct maildir_name nm;
		maildir_name_parse(de->d_name, &nm);
		uint64_t nl = 0;
		for (size_t i = 0; i < b.len; i++)
			nl += b.data[i] == '\n';
		ok = ok && nm.has_s && nm.s == b.len && nm.has_w && nm.w == b.len + nl;
		if (!ok)
			fprintf(stderr, "incomplete message %s (%zu bytes)\n", p, b.len);
		CHECK(ok);
		n++;
	}
	if (d)
		closedir(d);
	buf_release(&b);
	return n;
}

int main(void)
{
	char dir[] = "/tmp/mf-kill-XXXXXX";
	char root[600], inbox[700];
	unsigned seed = 12345;
	if (!mkdtemp(dir))
		return 1;
	snprintf(root, sizeof root, "%s/m", dir);
	snprintf(inbox, sizeof inbox, "%s/INBOX", root);
	struct maildir_opts o = { .create = 1 };
	struct store *s;
	struct err e;
	CHECK_INT(maildir_store_open(root, &o, &s, &e), 0);
	s->ops->close(s);
	for (int r = 0; r < ROUNDS; r++) {
		pid_t pid = fork();
		if (pid == 0)
			child_loop(root, seed + (unsigned)r);
		struct timespec ts = { 0, (long)(20 + rand_r(&seed) % 150) * 1000000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	}
	/* the big one, killed halfway through writing */
	int pfd[2];
	CHECK_INT(pipe(pfd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct store_box_state st;
		close(pfd[0]);
		if (maildir_store_open(root, &o, &s, &e) < 0 ||
		    s->ops->open_box(s, "INBOX", 0, &st, &e) < 0)
			_exit(2);
		deliver_lines(s, 999999, 250000, pfd[1]); /* about 16 MB */
		_exit(6);
	}
	close(pfd[1]);
	char c;
	CHECK_INT(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	int complete = check_complete(inbox, "new") + check_complete(inbox, "cur");
	printf("%d complete messages, %d files left in tmp/\n", complete, md_count(inbox, "tmp"));
	CHECK(complete > 0);
	CHECK(md_count(inbox, "tmp") >= 1); /* at least the big partial one */
	/* the driver still lists everything and cleans nothing young */
	CHECK_INT(maildir_store_open(root, &o, &s, &e), 0);
	struct store_box_state st;
	struct store_listing l;
	CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st, &e), 0);
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	CHECK_INT(l.n, complete);
	store_listing_free(&l);
	s->ops->close(s);
	md_rmrf(dir);
	return test_done();
}
