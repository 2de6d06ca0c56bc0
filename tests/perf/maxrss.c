/*
 * maxrss.c — run a command and report its peak resident set size.
 *
 *   maxrss OUTFILE COMMAND [ARGS...]
 *
 * Runs COMMAND (stdin/stdout/stderr inherited), waits for it, writes the
 * peak RSS of the waited-for children in KiB (getrusage(RUSAGE_CHILDREN)
 * ru_maxrss, Linux units) to OUTFILE and exits with COMMAND's status (128+N
 * for a signal). Stands in for /usr/bin/time -f %M, which the test image
 * does not ship. Owns nothing beyond its one child.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/banned.h"

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: maxrss OUTFILE COMMAND [ARGS...]\n");
		return 2;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "maxrss: fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "maxrss: cannot run '%s': %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "maxrss: waitpid: %s\n", strerror(errno));
			return 2;
		}
	}
	struct rusage ru;
	if (getrusage(RUSAGE_CHILDREN, &ru) < 0) {
		fprintf(stderr, "maxrss: getrusage: %s\n", strerror(errno));
		return 2;
	}
	FILE *f = fopen(argv[1], "w");
	if (!f || fprintf(f, "%ld\n", ru.ru_maxrss) < 0 || fclose(f) != 0) {
		fprintf(stderr, "maxrss: cannot write '%s'\n", argv[1]);
		return 2;
	}
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}
