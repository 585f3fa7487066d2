/*
 * test_ring.c — the SPSC ring: empty, full, wrap with indices started just
 * below UINT32_MAX, entry stamps (S1/S2), rejection of out-of-range peer
 * indices, the park handshake (C3), the tail kept within a ring of what is
 * stamped (the producer's duty), and an ordering stress with both ends in one process
 * (producer and consumer threads, futex park/wake) that also runs under
 * SANITIZE=thread.
 */
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>

#include "ffb_ring.h"
#include "testutil.h"

#define ENTRIES 8u

struct ring_mem {
	_Alignas(128) struct ffb_ring_ctl ctl;
	struct ffb_ring_entry slots[ENTRIES];
};

static void fresh(struct ring_mem *m, uint32_t start, struct ffb_ring_prod *p, struct ffb_ring_cons *c)
{
	memset(m, 0, sizeof(*m));
	m->ctl.p_tail = start;
	m->ctl.c_head = start;
	for (uint32_t k = 0; k < ENTRIES; k++) /* stamps of the lap before */
		m->slots[(start + k) % ENTRIES].seq = start + k + 1 - ENTRIES;
	assert_int_equal(ffb_ring_prod_attach(p, &m->ctl, ENTRIES), 0);
	assert_int_equal(ffb_ring_cons_attach(c, &m->ctl, ENTRIES), 0);
}

static void empty_ring_has_nothing_ready(void **state)
{
	(void)state;
	struct ring_mem m;
	struct ffb_ring_prod p;
	struct ffb_ring_cons c;
	fresh(&m, 0, &p, &c);
	assert_int_equal(ffb_ring_cons_ready(&c), 0);
	assert_int_equal(ffb_ring_prod_free(&p, 1), ENTRIES);
	assert_false(ffb_ring_prod_publish(&p)); /* nothing pushed: no store */
}

static void fill_drain_wrap(uint32_t start)
{
	struct ring_mem m;
	struct ffb_ring_prod p;
	struct ffb_ring_cons c;
	fresh(&m, start, &p, &c);
	uint64_t seq = 0, got = 0;
	for (int round = 0; round < 5; round++) {
		while (ffb_ring_prod_free(&p, 1) > 0) {
			struct ffb_ring_entry e = {.call_id = ++seq, .kind = FFB_KIND_CALL};
			ffb_ring_prod_push(&p, &e);
		}
		assert_int_equal(ffb_ring_prod_free(&p, 1), 0);     /* full */
		assert_int_equal(ffb_ring_cons_ready(&c), ENTRIES); /* stamped: visible before the tail */
		ffb_ring_prod_publish(&p);
		assert_int_equal(ffb_ring_cons_ready(&c), ENTRIES);
		struct ffb_ring_entry e;
		for (uint32_t i = 0; i < ENTRIES; i++) {
			ffb_ring_cons_pop(&c, &e);
			assert_int_equal(e.call_id, ++got);
		}
		assert_int_equal(ffb_ring_prod_free(&p, 1), 0); /* not released yet */
		ffb_ring_cons_release(&c);
		assert_int_equal(ffb_ring_prod_free(&p, 1), ENTRIES);
	}
	assert_int_equal(got, 5 * ENTRIES);
}

static void full_and_wrap_from_zero(void **state)
{
	(void)state;
	fill_drain_wrap(0);
}

static void full_and_wrap_across_uint32_max(void **state)
{
	(void)state;
	fill_drain_wrap(UINT32_MAX - 3);
	fill_drain_wrap(UINT32_MAX);
	fill_drain_wrap(UINT32_MAX - ENTRIES);
}

static void peer_index_out_of_range_is_corrupt(void **state)
{
	(void)state;
	struct ring_mem m;
	struct ffb_ring_prod p;
	struct ffb_ring_cons c;
	uint32_t on;
	fresh(&m, UINT32_MAX - 1, &p, &c);
	/* The consumer reads the tail when it goes to park. */
	m.ctl.p_tail = c.head + ENTRIES + 1; /* more ready than slots */
	assert_int_equal(ffb_ring_cons_prepare_park(&c, &on), FFB_RING_CORRUPT);
	m.ctl.p_tail = c.head - ENTRIES - 1; /* further behind head than a ring */
	assert_int_equal(ffb_ring_cons_prepare_park(&c, &on), FFB_RING_CORRUPT);
	m.ctl.p_tail = c.head + 1; /* over an entry never stamped */
	assert_int_equal(ffb_ring_cons_prepare_park(&c, &on), FFB_RING_CORRUPT);
	m.ctl.p_tail = c.head - ENTRIES; /* behind head: it took stamped entries first */
	assert_int_equal(ffb_ring_cons_prepare_park(&c, &on), 1);
	assert_int_equal(on, c.head - ENTRIES);
	ffb_ring_cons_end_park(&c);
	for (uint32_t i = 0; i < ENTRIES; i++) {
		struct ffb_ring_entry e = {.call_id = i + 1};
		ffb_ring_prod_push(&p, &e);
	}
	ffb_ring_prod_publish(&p); /* exactly full is fine */
	assert_int_equal(ffb_ring_cons_prepare_park(&c, &on), 0);
	assert_int_equal(ffb_ring_cons_ready(&c), ENTRIES);

	fresh(&m, 5, &p, &c);
	for (uint32_t i = 0; i < ENTRIES; i++) {
		struct ffb_ring_entry e = {.call_id = i + 1};
		ffb_ring_prod_push(&p, &e);
	}
	m.ctl.c_head = p.tail + 1; /* head past tail */
	assert_int_equal(ffb_ring_prod_free(&p, 1), FFB_RING_CORRUPT);
	m.ctl.c_head = p.tail - ENTRIES - 1; /* head too far behind */
	assert_int_equal(ffb_ring_prod_free(&p, 1), FFB_RING_CORRUPT);
	struct ffb_ring_prod p2;
	m.ctl.p_tail = 100;
	m.ctl.c_head = 50;
	assert_int_equal(ffb_ring_prod_attach(&p2, &m.ctl, ENTRIES), FFB_RING_CORRUPT);
}

static void a_stamp_publishes_its_entry_and_a_forged_one_nothing(void **state)
{
	(void)state;
	struct ring_mem m;
	struct ffb_ring_prod p;
	struct ffb_ring_cons c;
	fresh(&m, 7, &p, &c);
	struct ffb_ring_entry e = {.call_id = 1, .handle = 2, .len = 3, .kind = 4, .fn_or_status = 5, .seq = 99};
	ffb_ring_prod_push(&p, &e);
	assert_int_equal(m.slots[7 % ENTRIES].seq, 8); /* the ring stamps: index + 1 */
	assert_int_equal(m.ctl.p_tail, 7);             /* tail not stored yet */
	assert_int_equal(ffb_ring_cons_ready(&c), 1);  /* the stamp alone publishes it */
	struct ffb_ring_entry out;
	ffb_ring_cons_pop(&c, &out);
	assert_int_equal(out.call_id, 1);
	assert_int_equal(out.fn_or_status, 5);
	assert_int_equal(out.seq, 8);
	/* Stamps that are not index + 1 publish nothing, and ready() stops
	 * at the first one: the next lap's, the one after, zero. */
	const uint32_t forged[] = {9 + ENTRIES, 10, 0};
	for (size_t i = 0; i < 3; i++) {
		m.slots[8 % ENTRIES].seq = forged[i];
		assert_int_equal(ffb_ring_cons_ready(&c), 0);
	}
	m.slots[8 % ENTRIES].seq = 9;
	m.slots[9 % ENTRIES].seq = 10;
	m.slots[11 % ENTRIES].seq = 12; /* after a gap: not counted */
	assert_int_equal(ffb_ring_cons_ready(&c), 2);
	/* The tail trails the consumer now, which is no violation. */
	uint32_t on;
	ffb_ring_cons_pop(&c, &out);
	ffb_ring_cons_pop(&c, &out);
	assert_int_equal(ffb_ring_cons_prepare_park(&c, &on), 1);
	assert_int_equal(on, 7);
}

/* PROTOCOL.md §5, the producer's duty: a producer that never calls publish
 * while the consumer takes its entries by their stamps still keeps the
 * tail within a ring of them (free() stores it before it re-reads the
 * head), so the consumer's park never finds the tail a ring behind. */
static void a_burst_without_publish_keeps_the_tail_within_a_ring(void **state)
{
	(void)state;
	struct ring_mem m;
	struct ffb_ring_prod p;
	struct ffb_ring_cons c;
	fresh(&m, 0, &p, &c);
	for (uint32_t i = 0; i < 40 * ENTRIES; i++) {
		while (ffb_ring_prod_free(&p, 1) == 0) { /* the consumer takes what is stamped */
			int n = ffb_ring_cons_ready(&c);
			assert_true(n > 0);
			while (n--) {
				struct ffb_ring_entry e;
				ffb_ring_cons_pop(&c, &e);
			}
			ffb_ring_cons_release(&c);
			uint32_t tail = __atomic_load_n(&m.ctl.p_tail, __ATOMIC_ACQUIRE);
			assert_int_not_equal(ffb_ring_cons_tail_ahead(&c, tail), FFB_RING_CORRUPT);
		}
		struct ffb_ring_entry e = {.call_id = i + 1, .kind = FFB_KIND_RELEASE};
		ffb_ring_prod_push(&p, &e);
	}
	assert_true(c.head > 30 * ENTRIES); /* the consumer did run far ahead of the first tail */
	ffb_ring_prod_publish(&p);
	uint32_t sleep_on;
	int n = ffb_ring_cons_ready(&c);
	while (n-- > 0) {
		struct ffb_ring_entry e;
		ffb_ring_cons_pop(&c, &e);
	}
	assert_int_equal(ffb_ring_cons_prepare_park(&c, &sleep_on), 1);
}

static void park_is_refused_when_an_entry_is_published(void **state)
{
	(void)state;
	struct ring_mem m;
	struct ffb_ring_prod p;
	struct ffb_ring_cons c;
	fresh(&m, 42, &p, &c);
	uint32_t on;
	assert_int_equal(ffb_ring_cons_prepare_park(&c, &on), 1);
	assert_int_equal(on, 42);
	assert_int_equal(m.ctl.c_needs_wakeup, 1);
	struct ffb_ring_entry e = {.call_id = 1};
	ffb_ring_prod_push(&p, &e);
	assert_true(ffb_ring_prod_publish(&p)); /* consumer asked: wake it */
	ffb_ring_cons_end_park(&c);
	assert_int_equal(m.ctl.c_needs_wakeup, 0);
	/* an entry is ready: prepare_park says consume instead */
	assert_int_equal(ffb_ring_cons_prepare_park(&c, &on), 0);
	assert_int_equal(m.ctl.c_needs_wakeup, 0);
	ffb_ring_prod_push(&p, &e);
	assert_false(ffb_ring_prod_publish(&p)); /* nobody asleep: no wake */
}

/* ---- ordering stress: two threads, futex park/wake ----------------------- */

#define STRESS_ENTRIES 64u
#define STRESS_COUNT 400000u

struct stress {
	_Alignas(128) struct ffb_ring_ctl ctl;
	struct ffb_ring_entry slots[STRESS_ENTRIES];
	uint64_t payload[STRESS_ENTRIES]; /* data published by P1 alongside entries */
	uint64_t wakes, parks;
};

static void futex_wait(uint32_t *w, uint32_t v)
{
	syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}

static void futex_wake(uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void *stress_producer(void *arg)
{
	struct stress *s = arg;
	struct ffb_ring_prod p;
	ffb_ring_prod_attach(&p, &s->ctl, STRESS_ENTRIES);
	uint64_t seq = 0;
	while (seq < STRESS_COUNT) {
		int room = ffb_ring_prod_free(&p, 1);
		if (room <= 0) {
			ffb_cpu_relax();
			continue;
		}
		/* a batch of up to `room`, published once */
		for (int i = 0; i < room && seq < STRESS_COUNT; i++) {
			seq++;
			s->payload[p.tail & p.mask] = seq * 0x9E3779B97F4A7C15ull; /* plain store: P1 covers it */
			struct ffb_ring_entry e = {.call_id = seq, .handle = seq ^ 0xFFFF, .len = (uint32_t)seq};
			ffb_ring_prod_push(&p, &e);
		}
		if (ffb_ring_prod_publish(&p)) {
			__atomic_fetch_add(&s->wakes, 1, __ATOMIC_RELAXED);
			futex_wake(&s->ctl.p_tail);
		}
	}
	return NULL;
}

static void ring_ordering_stress_with_park_and_wake(void **state)
{
	(void)state;
	struct stress *s = aligned_alloc(128, sizeof(*s));
	memset(s, 0, sizeof(*s));
	s->ctl.p_tail = s->ctl.c_head = UINT32_MAX - 1000; /* wrap during the run */
	struct ffb_ring_cons c;
	ffb_ring_cons_attach(&c, &s->ctl, STRESS_ENTRIES);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, stress_producer, s), 0);
	uint64_t want = 1;
	unsigned idle = 0;
	while (want <= STRESS_COUNT) {
		int n = ffb_ring_cons_ready(&c);
		assert_true(n >= 0);
		if (n == 0) {
			if (++idle < 200) {
				ffb_cpu_relax();
				continue;
			}
			uint32_t on;
			if (ffb_ring_cons_prepare_park(&c, &on) == 1) {
				s->parks++;
				futex_wait(&s->ctl.p_tail, on); /* K1: returns at once if the tail moved */
			}
			ffb_ring_cons_end_park(&c);
			idle = 0;
			continue;
		}
		idle = 0;
		for (int i = 0; i < n; i++) {
			uint64_t pay = s->payload[c.head & c.mask];
			struct ffb_ring_entry e;
			ffb_ring_cons_pop(&c, &e);
			assert_int_equal(e.call_id, want);
			assert_int_equal(e.handle, want ^ 0xFFFF);
			assert_int_equal(e.len, (uint32_t)want);
			assert_int_equal(pay, want * 0x9E3779B97F4A7C15ull);
			want++;
		}
		ffb_ring_cons_release(&c);
	}
	pthread_join(t, NULL);
	print_message("stress: %u entries in order, %llu parks, %llu wakes\n", STRESS_COUNT,
		      (unsigned long long)s->parks, (unsigned long long)s->wakes);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_ring_has_nothing_ready),
		cmocka_unit_test(full_and_wrap_from_zero),
		cmocka_unit_test(full_and_wrap_across_uint32_max),
		cmocka_unit_test(a_stamp_publishes_its_entry_and_a_forged_one_nothing),
		cmocka_unit_test(peer_index_out_of_range_is_corrupt),
		cmocka_unit_test(park_is_refused_when_an_entry_is_published),
		cmocka_unit_test(a_burst_without_publish_keeps_the_tail_within_a_ring),
		cmocka_unit_test(ring_ordering_stress_with_park_and_wake),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
