/*
 * cmd.h — the subcommands of the mailferry binary. Each takes the argv
 * after the subcommand name and returns the process exit status.
 */
#ifndef MF_CMD_H
#define MF_CMD_H

int cmd_probe(int argc, char **argv);
int cmd_sync(int argc, char **argv);

#endif
