/*
 * upper_server.c — the C server of README.md ("Using it"), built by
 * `make test-docs` against an installed libffb through pkg-config.
 * Usage: upper_server SOCKET (stops on SIGTERM).
 */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>

#include <ffb.h>

static ffb_server *server;

static void on_term(int sig)
{
	(void)sig;
	ffb_server_stop(server);
}

/* my.upper: bytes in, the same bytes in upper case out (a new block). */
static ffb_status upper(ffb_call *call, void *ctx)
{
	(void)ctx;
	uint32_t n = ffb_call_len(call);
	const unsigned char *in = ffb_call_data(call); /* shared memory: read each byte once */
	unsigned char *out;
	ffb_status st = ffb_call_reply_alloc(call, n, (void **)&out);
	for (uint32_t i = 0; st == FFB_OK && i < n; i++)
		out[i] = (unsigned char)toupper(in[i]);
	return st;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: upper_server SOCKET\n");
		return 2;
	}
	ffb_status st = ffb_server_create(NULL, &server);
	if (st == FFB_OK)
		st = ffb_server_listen(server, argv[1]);
	if (st == FFB_OK)
		st = ffb_server_register(server, "my.upper", upper, NULL, NULL);
	if (st != FFB_OK) {
		fprintf(stderr, "upper_server: %s\n", ffb_strerror(st));
		return 1;
	}
	signal(SIGTERM, on_term);
	printf("ready\n");
	fflush(stdout);
	st = ffb_server_run(server); /* until ffb_server_stop */
	ffb_server_destroy(server);
	return st == FFB_OK ? 0 : 1;
}
