/*
 * ring.pml — Spin model of one ffb SPSC ring (ring/ffb_ring.h) with the
 * consumer's spin-then-park path and the producer's publish-then-wake path,
 * under x86-TSO: every process has a FIFO store buffer that drains into
 * memory nondeterministically (one drainer process per buffer); a load
 * sees the process's own newest buffered store, else memory; a full fence
 * (P3, C3) waits until the buffer is empty. Tags refer to ring/ORDERING.md.
 *
 * The consumer finds entries by their stamps (S2), never by the tail; it
 * reads the tail only after C3, to sleep on it.
 *
 * Checked: every message is consumed exactly once and in order
 * (assertions); a tail the consumer reads never covers an entry whose
 * stamp it cannot see (the honest producer never trips the consumer's
 * "tail over an unstamped entry" violation); and no lost wake-up: the
 * only valid end state is the consumer having consumed all NMSG messages,
 * so a consumer asleep forever is an "invalid end state" (deadlock) error.
 *
 * Switches (spin -D...):
 *   EVENTFD         sleep on a sticky eventfd counter the producer writes
 *                   (the C/Go client's response-ring park) instead of a
 *                   futex on p_tail (the server's io_uring FUTEX_WAIT park)
 *   MUT_NO_RECHECK  mutant 1: after setting needs_wakeup the consumer
 *                   does not look at the stamp again; it sleeps on the
 *                   tail it reads (C3's re-check gone)
 *   MUT_NO_P3       mutant 2: no full fence between the producer's tail
 *                   store and its needs_wakeup load
 *   MUT_STAMP_FIRST mutant 3: the producer stamps the entry before it
 *                   writes it (S1 release broken)
 *   MUT_HEAD_FIRST  mutant 4: the consumer stores c_head before it reads
 *                   the entry (C2 release broken: the slot is reused early)
 *   MUT_TAIL_FIRST  mutant 5: the producer stores p_tail before it stamps
 *                   the entry (P1 broken: a tail over an unstamped entry)
 */

#define NSLOT 2         /* ring entries (power of two) */
#define MASK  1
#ifndef NMSG
#define NMSG  4         /* messages sent; > NSLOT so slots are reused */
#endif
#ifndef SB
#define SB    4         /* store buffer depth */
#endif

/* shared words: two slots' data, their stamps, then the control block */
#define A_SEQ  2        /* seq of slot 0 (slot 1: A_SEQ + 1) */
#define A_TAIL 4        /* p_tail: producer-written; the futex word */
#define A_HEAD 5        /* c_head: consumer-written */
#define A_NW   6        /* c_needs_wakeup: consumer-written */
#define NADDR  7

#define PROD 0
#define CONS 1

byte mem[NADDR];
byte sb_addr[2 * SB];
byte sb_val[2 * SB];
byte sb_n[2];

bit sleeping;           /* futex: the consumer is queued on p_tail */
byte bell;              /* eventfd counter (sticky) */
byte consumed;

/* A store enters the process's store buffer (waiting while it is full,
 * as a core stalls). */
inline store(p, a, v) {
	atomic {
		sb_n[p] < SB ->
		sb_addr[p * SB + sb_n[p]] = (a);
		sb_val[p * SB + sb_n[p]] = (v);
		sb_n[p]++
	}
}

/* A load: newest own buffered store to `a`, else memory. */
inline load(p, a, r) {
	d_step {
		r = mem[(a)];
		k = 0;
		do
		:: k < sb_n[p] -> if :: sb_addr[p * SB + k] == (a) -> r = sb_val[p * SB + k] :: else fi; k++
		:: else -> break
		od;
		k = 0
	}
}

/* Full fence (also what a syscall does): wait until the buffer drained. */
inline fence(p) {
	(sb_n[p] == 0)
}

/* One drainer per store buffer: commits the oldest store at any time. */
proctype drainer(byte p) {
	byte j;
end:	do
	:: d_step {
		sb_n[p] > 0 ->
		mem[sb_addr[p * SB]] = sb_val[p * SB];
		j = 0;
		do
		:: j + 1 < sb_n[p] ->
			sb_addr[p * SB + j] = sb_addr[p * SB + j + 1];
			sb_val[p * SB + j] = sb_val[p * SB + j + 1];
			j++
		:: else -> break
		od;
		sb_n[p]--;
		sb_addr[p * SB + sb_n[p]] = 0;
		sb_val[p * SB + sb_n[p]] = 0;
		j = 0
	   }
	od
}

proctype producer() {
	byte tail = 0, head = 0, nw = 0, msg = 1, k = 0;
	do
	:: msg > NMSG -> break
	:: else ->
		/* P2: wait for a free slot (acquire load of c_head) */
		do
		:: load(PROD, A_HEAD, head);
		   if :: tail - head < NSLOT -> break :: else fi
		od;
#if defined(MUT_STAMP_FIRST)
		store(PROD, A_SEQ + (tail & MASK), tail + 1);
		store(PROD, tail & MASK, msg);
		store(PROD, A_TAIL, tail + 1);
#elif defined(MUT_TAIL_FIRST)
		store(PROD, tail & MASK, msg);
		store(PROD, A_TAIL, tail + 1);
		store(PROD, A_SEQ + (tail & MASK), tail + 1);
#else
		store(PROD, tail & MASK, msg);
		/* S1: entry before its stamp (TSO keeps stores in order) */
		store(PROD, A_SEQ + (tail & MASK), tail + 1);
		/* P1: stamped entries before the tail */
		store(PROD, A_TAIL, tail + 1);
#endif
		tail++;
		msg++;
#ifndef MUT_NO_P3
		fence(PROD);    /* P3 */
#endif
		load(PROD, A_NW, nw);
		if
		:: nw == 1 ->
			fence(PROD);    /* the wake is a syscall */
#ifdef EVENTFD
			atomic { if :: bell < 255 -> bell++ :: else fi }
#else
			sleeping = 0    /* FUTEX_WAKE */
#endif
		:: else
		fi;
		nw = 0;
		head = 0
	od
}

proctype consumer() {
	byte head = 0, tail = 0, seq = 0, v = 0, seen = 0, d = 0, k = 0;
	do
	:: consumed == NMSG -> break
	:: else ->
		load(CONS, A_SEQ + (head & MASK), seq);        /* S2 */
		if
		:: seq == head + 1 ->
take:
#ifdef MUT_HEAD_FIRST
			store(CONS, A_HEAD, head + 1);
			load(CONS, head & MASK, v);
#else
			load(CONS, head & MASK, v);
			/* C2: entry read before the head store (TSO keeps a
			 * load before a later store) */
			store(CONS, A_HEAD, head + 1);
#endif
			assert(v == head + 1);  /* exactly once, in order */
			head++;
			consumed++;
			v = 0;
			seq = 0
		:: else ->
			seq = 0;
			if
			:: skip         /* keep spinning */
			:: /* park */
				store(CONS, A_NW, 1);
				fence(CONS);    /* C3 */
				load(CONS, A_TAIL, tail);       /* C1 */
				seen = tail;
#ifndef MUT_NO_RECHECK
				load(CONS, A_SEQ + (head & MASK), seq);
				d = tail - head;
				/* the consumer's violation check: never tripped */
				assert(!(d >= 1 && d <= NSLOT && seq != head + 1));
				if
				:: seq == head + 1 ->
					store(CONS, A_NW, 0);
					tail = 0;
					seen = 0;
					d = 0;
					goto take
				:: else
				fi;
				seq = 0;
				d = 0;
#endif
				/* K1: the sleep is a syscall (buffer drained) ... */
				fence(CONS);
#ifdef EVENTFD
				/* ... reading a sticky counter */
				atomic { bell > 0 -> bell = 0 };
#else
				/* ... that returns at once if p_tail != seen,
				 * atomically with FUTEX_WAKE */
				atomic {
					if
					:: mem[A_TAIL] == seen -> sleeping = 1
					:: else
					fi
				};
				(sleeping == 0);
#endif
				store(CONS, A_NW, 0);   /* end_park: relaxed */
				tail = 0
			fi;
			seen = 0
		fi
	od
}

init {
	atomic {
		run drainer(PROD);
		run drainer(CONS);
		run producer();
		run consumer()
	}
}
