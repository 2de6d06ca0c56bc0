/*
 * probe.c — placeholder until the 'probe' command lands.
 */
#include <stdio.h>

#include "cmd.h"

int cmd_probe(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs("mailferry: 'probe' is not implemented yet\n", stderr);
	return 2;
}
