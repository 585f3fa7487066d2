/*
 * upper_client.c — the C client of README.md ("Using it"), built by
 * `make test-docs` against an installed libffb through pkg-config.
 * Usage: upper_client SOCKET TEXT (prints TEXT in upper case).
 */
#include <stdio.h>
#include <string.h>

#include <ffb.h>

static int fail(const char *what, ffb_status st)
{
	fprintf(stderr, "upper_client: %s: %s\n", what, ffb_strerror(st));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: upper_client SOCKET TEXT\n");
		return 2;
	}
	const char *text = argv[2];
	uint32_t n = (uint32_t)strlen(text);
	ffb_client *c;
	ffb_handle in;
	void *p;
	ffb_result r;
	ffb_status st = ffb_client_connect(argv[1], NULL, &c);
	if (st != FFB_OK)
		return fail("connect", st);
	st = ffb_client_alloc(c, n, &in); /* a block of the arena */
	if (st != FFB_OK)
		return fail("alloc", st);
	ffb_client_data(c, in, &p, NULL);
	memcpy(p, text, n);
	ffb_client_invoke(c, "my.upper", in, n, -1, &r); /* -1: no timeout */
	if (r.status != FFB_OK) /* r.handle, if not 0, holds the error's message */
		return fail("my.upper", r.status);
	ffb_client_data(c, r.handle, &p, NULL); /* the reply: r.len bytes */
	printf("%.*s\n", (int)r.len, (const char *)p);
	ffb_client_free(c, r.handle); /* the reply block is yours to free */
	ffb_client_free(c, in);
	ffb_client_close(c);
	return 0;
}
