/*
 * pool.c — the server's worker pool: the threads that run pooled
 * callbacks (and functions posted with ffb_server_post).
 *
 * Dispatchers hand pooled calls over through a bounded lock-free MPMC
 * queue (Vyukov's: one CAS per push or pop, each cell stamped with the
 * position it may be used at next). A dispatcher hands a call over only
 * under a reservation of a free worker (`busy` < nworkers), so the queue
 * never holds more calls than there are workers and never fills; calls
 * beyond that wait in their session's own list, and the dispatcher takes
 * them round-robin over its sessions as workers come free (dispatch.c),
 * so one session's flood of slow calls cannot queue ahead of another's.
 * Posted jobs have no reservation and go on a mutex list the workers
 * look at after the queue.
 *
 * A worker spins worker_spin_ns after its last job, then sleeps on a
 * private futex (an eventcount: `seq`, bumped by each wake). The waker
 * publishes the job, fences, and wakes only if a worker says it sleeps;
 * the sleeper says so, fences, and looks at the queue once more before
 * it sleeps: one of the two always sees the other. Ordering tags W1-W4
 * and A6 are in ring/ORDERING.md ("Inside the server").
 */
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server_internal.h"

static void futex(uint32_t *word, int op, uint32_t val)
{
	syscall(SYS_futex, word, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

ffb_status ffb__pool_init(struct ffb__pool *p, struct ffb_server *srv, uint32_t nworkers, uint32_t spin_ns)
{
	memset(p, 0, sizeof(*p));
	p->srv = srv;
	p->nworkers = nworkers;
	p->spin_ns = spin_ns;
	pthread_mutex_init(&p->post_lock, NULL);
	if (nworkers == 0)
		return FFB_OK;
	uint64_t cap = 2;
	while (cap < nworkers)
		cap <<= 1;
	p->mask = cap - 1;
	p->cells = calloc(cap, sizeof(*p->cells));
	p->threads = calloc(nworkers, sizeof(*p->threads));
	if (!p->cells || !p->threads) {
		ffb__pool_destroy(p);
		return FFB_ERR_SYSTEM;
	}
	for (uint64_t i = 0; i < cap; i++)
		p->cells[i].seq = i;
	return FFB_OK;
}

void ffb__pool_destroy(struct ffb__pool *p)
{
	free(p->cells);
	free(p->threads);
	p->cells = NULL;
	p->threads = NULL;
	pthread_mutex_destroy(&p->post_lock);
	struct ffb__job *j = p->post_head, *next;
	for (; j; j = next) { /* posted after the workers left: never run */
		next = j->next;
		free(j);
	}
	p->post_head = p->post_tail = NULL;
}

/* Vyukov push: false only if full, which a reservation rules out. */
static bool push(struct ffb__pool *p, struct ffb__job *job)
{
	uint64_t pos = __atomic_load_n(&p->enq, __ATOMIC_RELAXED);
	for (;;) {
		struct ffb__pool_cell *c = &p->cells[pos & p->mask];
		uint64_t seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
		int64_t diff = (int64_t)(seq - pos);
		if (diff == 0) {
			if (__atomic_compare_exchange_n(&p->enq, &pos, pos + 1, true, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED)) {
				c->job = job;
				/* W1: the call before the cell's stamp; pairs with W2 */
				__atomic_store_n(&c->seq, pos + 1, __ATOMIC_RELEASE);
				return true;
			}
		} else if (diff < 0) {
			return false;
		} else {
			pos = __atomic_load_n(&p->enq, __ATOMIC_RELAXED);
		}
	}
}

static struct ffb__job *pop(struct ffb__pool *p)
{
	uint64_t pos = __atomic_load_n(&p->deq, __ATOMIC_RELAXED);
	for (;;) {
		struct ffb__pool_cell *c = &p->cells[pos & p->mask];
		/* W2: the cell's stamp before the call; pairs with W1 */
		uint64_t seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
		int64_t diff = (int64_t)(seq - (pos + 1));
		if (diff == 0) {
			if (__atomic_compare_exchange_n(&p->deq, &pos, pos + 1, true, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED)) {
				struct ffb__job *job = c->job;
				/* Our read of the job before the cell is reused. */
				__atomic_store_n(&c->seq, pos + p->mask + 1, __ATOMIC_RELEASE);
				return job;
			}
		} else if (diff < 0) {
			return NULL;
		} else {
			pos = __atomic_load_n(&p->deq, __ATOMIC_RELAXED);
		}
	}
}

static struct ffb__job *take_posted(struct ffb__pool *p)
{
	if (!__atomic_load_n(&p->nposted, __ATOMIC_ACQUIRE))
		return NULL;
	pthread_mutex_lock(&p->post_lock);
	struct ffb__job *j = p->post_head;
	if (j) {
		p->post_head = j->next;
		if (!p->post_head)
			p->post_tail = NULL;
		__atomic_fetch_sub(&p->nposted, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&p->post_lock);
	return j;
}

static bool has_work(struct ffb__pool *p)
{
	return __atomic_load_n(&p->enq, __ATOMIC_SEQ_CST) != __atomic_load_n(&p->deq, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&p->nposted, __ATOMIC_SEQ_CST);
}

/* After publishing a job: wake one sleeping worker, if any. */
static void wake_one(struct ffb__pool *p)
{
	/* W3: the job's publication before the sleepers load; pairs with W4 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&p->sleepers, __ATOMIC_RELAXED)) {
		__atomic_fetch_add(&p->seq, 1, __ATOMIC_RELEASE);
		futex(&p->seq, FUTEX_WAKE, 1);
	}
}

static void sleep_until_work(struct ffb__pool *p)
{
	uint32_t seq = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
	/* W4: say we sleep before the last look at the queue; pairs with W3.
	 * The futex re-checks seq, so a wake between the look and the sleep
	 * is not lost. */
	__atomic_fetch_add(&p->sleepers, 1, __ATOMIC_SEQ_CST);
	if (!has_work(p) && !__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
		futex(&p->seq, FUTEX_WAIT, seq);
	__atomic_fetch_sub(&p->sleepers, 1, __ATOMIC_RELAXED);
}

static void *worker_main(void *arg)
{
	struct ffb__pool *p = arg;
	uint64_t idle_since = 0;
	for (unsigned idle = 0;;) {
		struct ffb__job *j = pop(p);
		if (!j)
			j = take_posted(p);
		if (j) {
			j->run(j);
			idle_since = 0;
			continue;
		}
		if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
			break;
		if (++idle & 15) {
			ffb_cpu_relax();
			continue;
		}
		uint64_t now = ffb__now_ns();
		if (!idle_since)
			idle_since = now;
		if (now - idle_since < p->spin_now)
			continue;
		sleep_until_work(p);
		idle_since = 0;
	}
	return NULL;
}

/* A spinning worker helps only with a CPU of its own: on a server with
 * no more CPUs than its spinning dispatchers plus one (for a client on
 * the same machine), a worker that spins takes the CPU from the very
 * dispatcher that must publish its answer, and a 1 us call takes a
 * scheduler time slice (measured on 2 vCPUs: 64 B pooled echo p50 26 us
 * spinning, 5 us sleeping at once). */
static uint32_t effective_spin(const struct ffb__pool *p)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return p->spin_ns;
	return (uint32_t)CPU_COUNT(&set) > p->srv->ndisp + 1 ? p->spin_ns : 0;
}

ffb_status ffb__pool_start(struct ffb__pool *p)
{
	__atomic_store_n(&p->stop, 0, __ATOMIC_RELEASE);
	p->spin_now = effective_spin(p);
	for (p->nstarted = 0; p->nstarted < p->nworkers; p->nstarted++)
		if (pthread_create(&p->threads[p->nstarted], NULL, worker_main, p) != 0) {
			ffb__pool_stop(p);
			return FFB_ERR_SYSTEM;
		}
	return FFB_OK;
}

void ffb__pool_stop(struct ffb__pool *p)
{
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(&p->seq, 1, __ATOMIC_RELEASE);
	futex(&p->seq, FUTEX_WAKE, INT_MAX);
	for (uint32_t i = 0; i < p->nstarted; i++)
		pthread_join(p->threads[i], NULL);
	p->nstarted = 0;
}

bool ffb__pool_reserve(struct ffb__pool *p)
{
	uint32_t busy = __atomic_load_n(&p->busy, __ATOMIC_RELAXED);
	while (busy < p->nworkers)
		if (__atomic_compare_exchange_n(&p->busy, &busy, busy + 1, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return true;
	return false;
}

void ffb__pool_submit(struct ffb__pool *p, struct ffb__job *job)
{
	if (!push(p, job)) { /* cannot happen under a reservation: never lose a call */
		ffb__log(FFB_LOG_ERROR, "pool queue full under a reservation");
		ffb__pool_post(p, job);
		return;
	}
	wake_one(p);
}

void ffb__pool_post(struct ffb__pool *p, struct ffb__job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&p->post_lock);
	if (p->post_tail)
		p->post_tail->next = job;
	else
		p->post_head = job;
	p->post_tail = job;
	__atomic_fetch_add(&p->nposted, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&p->post_lock);
	wake_one(p);
}

void ffb__pool_release(struct ffb__pool *p)
{
	/* A6: the worker is free before we look for a dispatcher starved of
	 * one; pairs with A5 (dispatch.c). */
	__atomic_fetch_sub(&p->busy, 1, __ATOMIC_SEQ_CST);
	struct ffb_server *srv = p->srv;
	for (uint32_t i = 0; i < srv->ndisp; i++)
		if (__atomic_load_n(&srv->disp[i].starved, __ATOMIC_SEQ_CST))
			ffb__dispatcher_wake(&srv->disp[i]);
}
