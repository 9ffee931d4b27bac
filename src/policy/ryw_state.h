/* Read-your-writes state kept on client and server connections (the logic is in session/ryw.c). */
#ifndef PGR_RYW_STATE_H
#define PGR_RYW_STATE_H

#include <stdbool.h>
#include <stdint.h>

struct store_req;

/* read_your_writes = off | lsn | window (config enum order). */
enum ryw_mode { RYW_OFF = 0, RYW_LSN = 1, RYW_WINDOW = 2 };

/* Why a read went to the primary instead of a replica (counters by scope). */
enum ryw_scope { RYW_SCOPE_SESSION, RYW_SCOPE_TOKEN, RYW_SCOPE_KEY, RYW_SCOPE_WINDOW, RYW_NSCOPES };

#define RYW_KEY_MAX 128 /* longest consistency key */

/* What a client must see: its own commits, a token it presented, and its key's commits. */
struct ryw_client {
	uint64_t lsn; /* this session's latest commit LSN */
	uint64_t min_lsn; /* SET pgrouter.min_lsn (a token from elsewhere) */
	int64_t until; /* window mode, or a commit whose LSN could not be learned: primary until then (µs) */
	char *key; /* SET pgrouter.consistency_key, or NULL */
	uint64_t store_lsn; /* the key's LSN as the consistency_store last said (0 for a new key) */
	struct store_req *store_req; /* a consistency_store GET in flight, or NULL */
	uint8_t parked; /* enum ryw_park: why it is in CL_RYW_WAIT (ryw_wait.c) */
	uint32_t resumed; /* c.nmsg + 1 of a parked message being dispatched again (ryw_wait.c) */
	uint8_t resumed_from; /* enum ryw_park: why that message had been parked */
	int64_t wait_start; /* ryw_wait: when its current read was first parked (µs; 0: not waiting) */
	int64_t wait_until; /* ... and when that wait ends */
	uint64_t wait_gen; /* the monitor snapshot it was last parked on */
	uint64_t wait_lsn; /* the replay LSN it waits for */
};

/* A primary connection's part: did the unit write, and is pgrouter asking for the commit LSN now. */
struct ryw_server {
	bool wrote; /* a statement that may write was forwarded since the last commit point */
	bool asking; /* pgrouter's LSN query is in flight; the client's ReadyForQuery is held back */
	bool plan; /* the Query being forwarded ends a unit that wrote: send the LSN query behind it */
	bool pipelined; /* the LSN query went out right behind the client's Query (no extra round trip) */
	bool discard; /* the pipelined query's answer is dropped unused: the transaction stayed open */
	bool rode; /* the answer awaited now is that of a pipelined query */
	bool xvalid; /* the extended-protocol batch so far lets the LSN query follow its Sync */
	bool xopen; /* predicted: a transaction is still open once the batch has run */
	bool xparsed; /* a statement of this batch was classified (an unnamed Bind runs it) */
	bool failed; /* the LSN query failed */
	char held_z; /* the held ReadyForQuery's status byte */
	uint64_t answer;
	bool storing; /* the LSN is known; the held ReadyForQuery waits for the consistency_store */
	struct store_req *store_req; /* that store request, or NULL */
};

#endif
