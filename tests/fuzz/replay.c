/*
 * replay.c — a main() for the libFuzzer targets without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on each file named on the command line (or
 * in a directory named there), so
 * the seed and regression corpus is replayed by the ordinary (gcc,
 * sanitizer) test build. A crash or sanitizer report fails the test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct buf b = BUF_INIT((size_t)1 << 20);
	char chunk[4096];
	size_t n;
	if (!f) {
		perror(path);
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (buf_add(&b, chunk, n) < 0) {
			fprintf(stderr, "%s: too big\n", path);
			fclose(f);
			buf_release(&b);
			return -1;
		}
	}
	fclose(f);
	LLVMFuzzerTestOneInput((const uint8_t *)b.data, b.len);
	buf_release(&b);
	return 0;
}

int main(int argc, char **argv)
{
	int count = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *de;
			if (!d) {
				perror(argv[i]);
				return 1;
			}
			while ((de = readdir(d)) != NULL) {
				char path[4096];
				if (de->d_name[0] == '.')
					continue;
				snprintf(path, sizeof path, "%s/%s", argv[i], de->d_name);
				if (replay_file(path) < 0) {
					closedir(d);
					return 1;
				}
				count++;
			}
			closedir(d);
		} else {
			if (replay_file(argv[i]) < 0)
				return 1;
			count++;
		}
	}
	printf("replayed %d inputs\n", count);
	return count > 0 ? 0 : 1;
}
