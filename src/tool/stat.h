/*
 * stat.h — `ffb stat` (stat.c): a running server's figures, read with a
 * stats request, never as a session.
 */
#ifndef FFB_TOOL_STAT_H
#define FFB_TOOL_STAT_H

/* The `ffb stat` command; argv[0] is "stat". Returns the exit status. */
int cmd_stat(int argc, char **argv);

#endif /* FFB_TOOL_STAT_H */
