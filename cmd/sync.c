/*
 * sync.c — placeholder until the 'sync' command lands.
 */
#include <stdio.h>

#include "cmd.h"

int cmd_sync(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs("mailferry: 'sync' is not implemented yet\n", stderr);
	return 2;
}
