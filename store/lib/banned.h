/*
 * banned.h — libc calls that are too easy to misuse (after git's banned.h).
 * Every .c file includes it after all other headers (system headers
 * declare these names, so it cannot come first); a use is then a compile
 * error naming the function.
 */
#ifndef MF_BANNED_H
#define MF_BANNED_H

#define BANNED(func) sorry_##func##_is_banned_in_mailferry

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) BANNED(strncat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gmtime
#define gmtime(t) BANNED(gmtime)
#undef localtime
#define localtime(t) BANNED(localtime)
#undef gets
#define gets(x) BANNED(gets)

#endif
