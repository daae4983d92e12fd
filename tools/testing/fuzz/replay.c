// SPDX-License-Identifier: GPL-2.0
/*
 * Regression driver for the libFuzzer harnesses: runs
 * LLVMFuzzerTestOneInput() once on every file named on the command line,
 * or in a directory named there.  Built without -fsanitize=fuzzer, so it
 * needs no fuzzing runtime; a failed check aborts with the file's name on
 * stderr.
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* From the sanitizer runtime when there is one (weak: builds without). */
void __sanitizer_set_death_callback(void (*callback)(void))
	__attribute__((weak));

/* The input being replayed, named when a check or a sanitizer fails. */
static const char *current;

static void name_input(void)
{
	if (current)
		fprintf(stderr, "FAILED on input %s\n", current);
}

static void on_abort(int sig)
{
	name_input();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int run_file(const char *path)
{
	uint8_t *buf;
	FILE *f;
	long n;

	f = fopen(path, "rb");
	n = f && !fseek(f, 0, SEEK_END) ? ftell(f) : -1;
	if (n < 0 || fseek(f, 0, SEEK_SET)) {
		perror(path);
		exit(2);
	}
	buf = malloc(n ? n : 1);
	if (!buf || fread(buf, 1, n, f) != (size_t)n) {
		perror(path);
		exit(2);
	}
	fclose(f);
	current = path;
	LLVMFuzzerTestOneInput(buf, n);
	current = NULL;
	free(buf);
	return 1;
}

static int run_dir(const char *dir)
{
	struct dirent **names;
	int i, n, runs = 0;

	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		perror(dir);
		exit(2);
	}
	for (i = 0; i < n; i++) {
		char path[4096];

		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir,
				 names[i]->d_name);
			runs += run_file(path);
		}
		free(names[i]);
	}
	free(names);
	return runs;
}

int main(int argc, char **argv)
{
	int i, runs = 0;
	struct stat st;

	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(name_input);
	signal(SIGABRT, on_abort);
	signal(SIGSEGV, on_abort);
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st)) {
			perror(argv[i]);
			return 2;
		}
		runs += S_ISDIR(st.st_mode) ? run_dir(argv[i]) :
					      run_file(argv[i]);
	}
	printf("%s: %d inputs replayed, no failure\n", argv[0], runs);
	return 0;
}
