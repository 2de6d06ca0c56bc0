/*
 * testlib.h — the smallest unit-test harness: CHECK macros that report the
 * file, line and expression, and a summary at exit. A test program returns
 * test_done(), nonzero when anything failed.
 */
#ifndef MF_TESTLIB_H
#define MF_TESTLIB_H

#include <stdio.h>
#include <string.h>

static int test_failures_;
static int test_checks_;

#define CHECK(cond)                                                             \
	do {                                                                    \
		test_checks_++;                                                 \
		if (!(cond)) {                                                  \
			test_failures_++;                                       \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,  \
				__LINE__, #cond);                               \
		}                                                               \
	} while (0)

#define CHECK_INT(a, b)                                                         \
	do {                                                                    \
		long long a_ = (long long)(a), b_ = (long long)(b);             \
		test_checks_++;                                                 \
		if (a_ != b_) {                                                 \
			test_failures_++;                                       \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", \
				__FILE__, __LINE__, #a, a_, #b, b_);            \
		}                                                               \
	} while (0)

#define CHECK_STR(a, b)                                                         \
	do {                                                                    \
		const char *a_ = (a), *b_ = (b);                                \
		test_checks_++;                                                 \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                        \
			test_failures_++;                                       \
			fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", \
				__FILE__, __LINE__, #a, a_ ? a_ : "(null)",     \
				b_ ? b_ : "(null)");                            \
		}                                                               \
	} while (0)

struct test_scenario {
	const char *name;
	void (*fn)(void);
};

static inline int test_done(void);

/* Run the scenario named by argv[1] (each is one meson test), or all of
 * them without an argument; exit status 2 for a name nobody knows. */
static inline int test_run_scenarios(int argc, char **argv, const struct test_scenario *v,
				     size_t n)
{
	int ran = 0;
	for (size_t i = 0; i < n; i++) {
		if (argc > 1 && strcmp(argv[1], v[i].name) != 0)
			continue;
		printf("== %s\n", v[i].name);
		v[i].fn();
		ran++;
	}
	if (!ran) {
		fprintf(stderr, "unknown scenario '%s'\n", argc > 1 ? argv[1] : "");
		return 2;
	}
	return test_done();
}

static inline int test_done(void)
{
	printf("%d checks, %d failed\n", test_checks_, test_failures_);
	return test_failures_ ? 1 : 0;
}

#endif
