/*
 * The fixed protocol (fence compare-and-set at write time; decision-bound repair, rollback and
 * clean-up), as the applier implements it after the decision-bound-writes change.
 *
 * Route 53 (one zone):
 *   content[e]  what endpoint e holds: the content of plan content[e] (0 = no record set).
 *               Endpoint 0 is the canary, E-1 the regional endpoint.
 *   fence       the fence TXT record, packed into one int (F below): generation, revision,
 *               content source (the plan whose content is live: the checksum), sequence number,
 *               writer, done. Ordering key: (generation, revision).
 *   A change batch is atomic (d_step): it DELETEs the fence exactly as the writer expects it
 *   (as read at decision time, then as the writer last wrote it) and CREATEs its successor
 *   (seq + 1); each record change DELETEs the record set exactly as read (CREATE when there
 *   was none: CREATE fails if the set exists). Any mismatch rejects the whole batch.
 *   -DNOFENCE takes the fence compare out (the fence DELETE matches whatever is there); the
 *   record compares stay.
 *   pfence / pcontent: the zone before its latest batch, what a stale read returns.
 *
 * Plan store: stored[g], pins under a generation (pinunder[g]); the planner publishes g2 .. NG
 *   (g1 is live at the start).
 * Lease: in the safety runs it is lost at every step (LEASE_FREE / RENEW_FAILS below): any
 *   actor may act at any time, so safety cannot rest on it. In the liveness runs (-DLIVE) an
 *   actor waits for it, renews it before each batch and store delete (a renewal fails if anyone
 *   else took it, or after a lease-loss fault, NLEASE) and gives it back after its round.
 *
 * Actors (one proctype, a program counter `pc`; each step one d_step, i.e. one atomic action
 * between two checkpoints; a crash can hit any actor at any checkpoint):
 *   enactor A, B, C (NE)  pick the newest stored plan g; decide from a read: apply if
 *                         fence.gen < g, resume if fence.gen == g with the same content source,
 *                         else stale (stop). Batches per endpoint (canary first); after the
 *                         canary the gate may fail: pin the previous content source, restore
 *                         the canary with a batch that DELETEs the fence this enactor last
 *                         wrote (under revision + 1), stop. Then clean-up.
 *   repair R              decide from a read: endpoints with no records are restored to the
 *                         live fence's content source, under (live gen, revision + 1).
 *   rollback O            "roll back to the plan before N" (N = live generation at its first
 *                         decision): pin the target in the store (conditional: it must still
 *                         exist), then write it under (N, revision + 1). A re-decision that finds
 *                         N no longer live is stale: stop.
 *   clean-up (enactors)   read the fence; delete stored plans older than live - KEEP, never the
 *                         live generation nor the live content source; each delete conditional
 *                         on the lease and on the plan not pinned under a generation at or
 *                         above live - KEEP (-DPIN_STAMP: only a pin made at/after the clean-up's
 *                         decision blocks it, a time-based rule that is not enough).
 *   A rejected batch or a lost response: re-read; our own fence there (a lost response) is a
 *   success, anything else a re-decision from a fresh read (at most MAXATT decisions).
 *
 * Faults (budgets, and at most NFAULTS of them in one run): crash + restart from scratch at
 * any checkpoint (NCRASH), lost response (NLOST), stale read (NSTALE), lease loss (NLEASE,
 * liveness runs), failed gate (NGATE); and, outside the budget, a deletion of the regional
 * endpoint's records by someone else (NWIPE: what repair is for).
 *
 * Invariants (INV selects one, 0 = all):
 *   I1 never empty: every endpoint has records, but the regional one between an outside
 *      deletion and the batch that restores it.
 *   I2 monotonic: the fence's (generation, revision) never decreases.
 *   I3 no live deletion: clean-up never deletes the live generation or the live content
 *      source; after every batch both are in the plan store.
 * I4 (convergence) is checked with -DLIVE by ltl property i4 (see the runner).
 */

#ifndef NE
#define NE 3
#endif
#ifndef NG
#define NG 3
#endif
#ifndef E
#define E 2
#endif
#ifndef KEEP
#define KEEP 0
#endif
#ifndef MAXATT
#define MAXATT 3
#endif
#ifndef NCRASH
#define NCRASH 1
#endif
#ifndef NLOST
#define NLOST 1
#endif
#ifndef NSTALE
#define NSTALE 1
#endif
#ifndef NLEASE
#define NLEASE 1
#endif
#ifndef NGATE
#define NGATE 1
#endif
#ifndef NWIPE
#define NWIPE 1
#endif
#ifndef REPAIR
#define REPAIR 1
#endif
#ifndef ROLLBACK
#define ROLLBACK 1
#endif
#ifndef INV
#define INV 0
#endif

/* the fence, packed: gen 4 bits, rev 4, src 4, seq 8, writer 4, done 1 */
#define F(gen, rev, src, seq, wr, done) (((gen) << 24) | ((rev) << 20) | ((src) << 16) | ((seq) << 8) | ((wr) << 4) | (done))
#define FGEN(f)  (((f) >> 24) & 15)
#define FREV(f)  (((f) >> 20) & 15)
#define FSRC(f)  (((f) >> 16) & 15)
#define FSEQ(f)  (((f) >> 8) & 255)
#define FDONE(f) ((f) & 1)
#define KEY(f)   ((f) >> 20)

#ifdef NOFENCE
#define FENCE_OK(x) true
#else
#define FENCE_OK(x) (fence == (x))
#endif

#if INV == 0 || INV == 1
#define CHECK_I1 e = 0; do :: e < E - 1 -> assert(content[e] != 0); e++ :: else -> break od; assert(content[E - 1] != 0 || wiped)
#else
#define CHECK_I1 skip
#endif
#if INV == 0 || INV == 2
#define CHECK_I2(nf) assert(KEY(nf) >= KEY(fence))
#else
#define CHECK_I2(nf) skip
#endif
#if INV == 0 || INV == 3
#define CHECK_I3_LIVE assert(stored[FGEN(fence)] && stored[FSRC(fence)])
#define CHECK_I3_DELETE(g) assert((g) != FGEN(fence) && (g) != FSRC(fence))
#else
#define CHECK_I3_LIVE skip
#define CHECK_I3_DELETE(g) skip
#endif

/* roles */
#define ENACTOR  0
#define REPAIRER 1
#define ROLLER   2

/* program counters (checkpoints) */
#define START     0
#define DECIDE    1
#define PIN       2
#define BATCH     3
#define GATEPIN   6
#define GATEWRITE 7
#define CLEAN     8
#define CDEL      9
#define DONE      10

#define NOREC 255
#define OK  0
#define REJ 1
#define LOST 2

int fence, pfence;
byte content[E], pcontent[E];
bool stored[NG + 1];
bool pinned[NG + 1];
byte pinunder[NG + 1];   /* the highest generation a rollback pinned the plan under */
#ifdef PIN_STAMP
byte stime;
byte pinat[NG + 1];
#endif
byte lease;           /* holder (1 ..), 0 none, 255 lost by a fault */
bool wiped;           /* the regional records were deleted from outside and not yet restored */
bool planner_done;
/* scratch variables of one atomic step (never read across steps): not part of the state */
hidden byte k, e, out;
hidden int rf;        /* the fence a step read (copied to the actor's wf when it decides) */
hidden byte gatefail;
#ifndef NFAULTS
#define NFAULTS 2
#endif
/* a fault of kind x may happen: its own budget and the total budget allow it */
#define FAULT(x) (x > 0 && faults > 0)
#define TAKE(x) x--; faults--
byte faults = NFAULTS;
byte crashes = NCRASH, losts = NLOST, stales = NSTALE, leases = NLEASE, gates = NGATE, wipes = NWIPE;

/* the actor's letter in printed trails: A, B, C .. enactors, R repair, O rollback, W outside */
#define ACTOR (role == ENACTOR -> 'A' + me - 1 : (role == REPAIRER -> 'R' : 'O'))

/* ------------------------------------------------------------------ Route 53 */

/* one change batch, atomic; `out` := OK or REJ */
inline SUBMIT(expect, rec, oldc, newc, nf) {
    if
    :: FENCE_OK(expect) && (rec == NOREC || content[rec] == oldc) ->
        pfence = fence;
        k = 0; do :: k < E -> pcontent[k] = content[k]; k++ :: else -> break od;
        CHECK_I2(nf);
        fence = nf;
        if :: rec != NOREC -> content[rec] = newc :: else -> skip fi;
        if :: content[E - 1] != 0 -> wiped = false :: else -> skip fi;
        printf("@@ %c batch accepted: fence g%d r%d src g%d seq %d done %d, ", ACTOR, FGEN(fence), FREV(fence), FSRC(fence), FSEQ(fence), FDONE(fence));
        printf("records ep1=g%d regional=g%d\n", content[0], content[E - 1]);
        CHECK_I1;
        CHECK_I3_LIVE;
        out = OK
    :: else -> out = REJ; printf("@@ %c batch REJECTED (expected fence g%d r%d seq %d)\n", ACTOR, FGEN(expect), FREV(expect), FSEQ(expect))
    fi
}

/* list_record_sets: the zone now, or (stale) as it was before its latest batch */
inline READ(stale, f) {
    if
    :: stale -> f = pfence; k = 0; do :: k < E -> rc[k] = pcontent[k]; k++ :: else -> break od
    :: else -> f = fence; k = 0; do :: k < E -> rc[k] = content[k]; k++ :: else -> break od
    fi
}

/* ------------------------------------------------------------------ actors */

proctype Planner() {
    byte g = 2;
    do
    :: d_step { g <= NG -> stored[g] = true; printf("@@ P publishes g%d\n", g); g++ }
    :: d_step { g > NG -> planner_done = true; g = 0 }; break
    od
}

proctype Wipe() {
    /* someone outside the protocol deletes the regional endpoint's records (a batch of its
       own, without the fence): what repair is for */
end:
    d_step {
        wipes > 0 && content[E - 1] != 0 ->     /* not one of our faults: outside the budget */
        wipes--; printf("@@ W deletes the regional records from outside\n");
        pfence = fence; k = 0; do :: k < E -> pcontent[k] = content[k]; k++ :: else -> break od;
        content[E - 1] = 0; wiped = true; k = 0
    }
}

proctype LeaseLoss() {
end:
    d_step { FAULT(leases) && lease != 0 && lease != 255 -> TAKE(leases); lease = 255 }
}

#define OLDC (cur == NOREC -> 0 : rc[cur])
#define NEWC (cur == NOREC -> 0 : tgt[cur])

#ifdef LIVE
/* liveness runs: a lease is waited for while another holder has it (and released at the end of
   a round), renewed before every batch and store delete; a lease-loss fault (NLEASE) makes
   the holder's next renewal fail */
#define LEASE_FREE (lease == 0 || lease == me || lease == 255)
#define RENEW_FAILS (lease != me)
#define TAKE_LEASE lease = me
#else
/* safety runs: the lease is lost at every moment, the strongest lease-expiry fault: any actor
   may act at any step whoever else believes it holds the lease, and a renewal between two
   steps proves nothing (the actor can stall right after it). Safety cannot rest on it. */
#define LEASE_FREE true
#define RENEW_FAILS false
#define TAKE_LEASE skip
#endif

#define RESET_LOCALS \
    g = 0; n0 = 0; wf = 0; nf = 0; ngen = 0; nrev = 0; nsrc = 0; ndone = 0; cur = 0; att = 0; \
    fresh = false; last = false; psrc = 0; prev0 = 0; cmask = 0; ct = 0; \
    e = 0; do :: e < E -> rc[e] = 0; tgt[e] = 0; e++ :: else -> break od; e = 0

/* after an accepted batch (or our own fence found by a re-read) */
inline AFTER_OK() {
    wf = nf; nf = 0;
    if :: cur != NOREC -> tgt[cur] = 0 :: else -> skip fi;
    cur = 0;
    if
    :: last ->
        last = false; fresh = false; psrc = 0; prev0 = 0;
        if :: role == ENACTOR -> pc = CLEAN :: else -> pc = DONE fi
    :: !last && gatefail -> pc = GATEPIN
    :: else -> fresh = false; psrc = 0; prev0 = 0; pc = BATCH     /* the gate passed */
    fi
}

/* the next batch: the first endpoint still to write (canary first), or the fence alone */
inline NEXT_BATCH() {
    cur = NOREC; e = E;
    k = 0; do :: k < E && tgt[k] != 0 && cur == NOREC -> cur = k; k++ :: k < E && tgt[k] != 0 -> e = k; k++
              :: k < E && tgt[k] == 0 -> k++ :: else -> break od;
    /* e: a later endpoint still to write (E: none, so this batch is the last) */
    last = (e == E);
    nf = F(ngen, nrev, nsrc, FSEQ(wf) + 1, me, (last -> ndone : 0))
}

inline DECIDE_STEP(stale) {
    READ(stale, rf);
    att++;
    printf("@@ %c reads (stale %d): fence g%d r%d src g%d seq %d done %d; ", ACTOR, stale, FGEN(rf), FREV(rf), FSRC(rf), FSEQ(rf), FDONE(rf));
    if
    :: nf != 0 && rf == nf ->
        /* the re-read after a rejected batch or a lost response shows our own fence: it was
           applied (a lost response), go on */
        AFTER_OK()
    :: att > MAXATT && !(nf != 0 && rf == nf) -> pc = DONE          /* gave up */
    :: else ->
        nf = 0; cur = 0; last = false;
        if
        :: role == ENACTOR ->
            if
            :: FGEN(rf) > g || (FGEN(rf) == g && FSRC(rf) != g) -> pc = DONE   /* StaleGeneration */
            :: else ->
                fresh = FGEN(rf) < g;
                ngen = g; nsrc = g; ndone = 1;
                nrev = (fresh -> 0 : FREV(rf));
                k = 0; do :: k < E -> tgt[k] = (rc[k] != g -> g : 0); k++ :: else -> break od;
                psrc = FSRC(rf); prev0 = rc[0];
                if
                :: !fresh && FDONE(rf) && tgt[0] == 0 && tgt[E - 1] == 0 -> pc = CLEAN   /* noop */
                :: else -> pc = BATCH
                fi
            fi
        :: role == REPAIRER ->
            k = 0; do :: k < E -> tgt[k] = (rc[k] == 0 -> FSRC(rf) : 0); k++ :: else -> break od;
            if
            :: FGEN(rf) == 0 || (tgt[0] == 0 && tgt[E - 1] == 0) -> pc = DONE     /* nothing to repair */
            :: !stored[FSRC(rf)] -> pc = DONE                                     /* no plan to repair from */
            :: else -> ngen = FGEN(rf); nrev = FREV(rf) + 1; nsrc = FSRC(rf); ndone = FDONE(rf); pc = BATCH
            fi
        :: role == ROLLER ->
            if
            :: FGEN(rf) == 0 || (n0 != 0 && FGEN(rf) != n0) -> pc = DONE          /* N no longer live: stale */
            :: else ->
                n0 = FGEN(rf);
                g = n0 - 1; do :: g > 0 && !stored[g] -> g-- :: else -> break od;   /* the plan before N */
                k = 0; do :: k < E -> tgt[k] = (rc[k] != g -> g : 0); k++ :: else -> break od;
                if
                :: g == 0 -> pc = DONE                                             /* nothing earlier */
                :: FSRC(rf) == g && FDONE(rf) && tgt[0] == 0 && tgt[E - 1] == 0 -> pc = DONE
                :: else -> ngen = n0; nrev = FREV(rf) + 1; nsrc = g; ndone = 1; pc = PIN
                fi
            fi
        fi;
        wf = rf;
        if :: pc != DONE && pc != CLEAN && RENEW_FAILS -> pc = DONE :: else -> skip fi;  /* renew: FenceLost */
        if :: pc == DONE -> printf("stops\n") :: pc == CLEAN -> printf("nothing to write\n") :: else -> printf("writes\n") fi
    fi
}

inline CLEAN_STEP(stale) {
    READ(stale, rf);
    cmask = 0;
    k = 1;
    do
    :: k <= NG ->
        if :: stored[k] && k + KEEP < FGEN(rf) && k != FSRC(rf) -> cmask = cmask | (1 << k) :: else -> skip fi; k++
    :: else -> break
    od;
#ifdef PIN_STAMP
    stime++; ct = stime;   /* the store's clock at the decision */
#else
    ct = (FGEN(rf) > KEEP -> FGEN(rf) - KEEP : 0);   /* the floor */
#endif
    printf("@@ %c clean-up reads (stale %d): fence g%d src g%d; deletes the plans in mask %d\n", ACTOR, stale, FGEN(rf), FSRC(rf), cmask);
    if :: cmask == 0 -> pc = DONE :: else -> pc = CDEL fi;
    k = 0; do :: k < E -> rc[k] = 0; k++ :: else -> break od;
    skip
}

inline START_STEP() {
    TAKE_LEASE;
    if
    :: role == ENACTOR -> g = NG; do :: g > 0 && !stored[g] -> g-- :: else -> break od
    :: else -> skip
    fi
}

/* every step ends here: an actor that is done forgets everything (so that equal states are
   equal); in liveness runs it gives its lease back and starts its next round */
#ifdef LIVE
#define ENDSTEP if :: pc == DONE -> if :: lease == me -> lease = 0 :: else -> skip fi; RESET_LOCALS; pc = START :: else -> skip fi
#else
#define ENDSTEP if :: pc == DONE -> RESET_LOCALS :: else -> skip fi
#endif

/* Pins. The applier's rule (planstore.pin_plan / delete_plan(pinned_below=)): a rollback pins
   its source plan under the generation N it writes under (pins only rise); clean-up deletes a
   plan only if it is not pinned at or above its floor (the live generation it read - KEEP).
   -DPIN_STAMP: the time-based reading instead, "not pinned at or after clean-up's decision"
   (a store clock). `ct` holds clean-up's floor, or its decision time. */
#if defined(NOPIN)
#define DELETABLE(g) stored[g]                      /* -DNOPIN: pins protect nothing */
#define PIN_IT(g, under) pinned[g] = true
#elif defined(PIN_STAMP)
#define DELETABLE(g) (stored[g] && (pinat[g] == 0 || pinat[g] < ct))
#define PIN_IT(g, under) pinned[g] = true; stime++; pinat[g] = stime
#else
#define DELETABLE(g) (stored[g] && !(pinned[g] && pinunder[g] >= ct))
#define PIN_IT(g, under) pinned[g] = true; if :: pinunder[g] < (under) -> pinunder[g] = (under) :: else -> skip fi
#endif

proctype Actor(byte me; byte role) {
    byte pc = START;
    byte g, n0, ngen, nrev, nsrc, ndone, cur, att, psrc, prev0, cmask, ct;
    int wf, nf;
    bool fresh, last;
    byte rc[E], tgt[E];
    do
    /* a crash at any checkpoint: everything local is lost, the actor starts again */
    :: d_step { pc != START && pc != DONE && FAULT(crashes) -> TAKE(crashes); printf("@@ %c crashes\n", ACTOR); RESET_LOCALS; pc = START }
    /* start: take the lease, pick the newest plan (enactors), read the zone and decide */
    :: d_step { pc == START && LEASE_FREE -> START_STEP(); DECIDE_STEP(false); ENDSTEP }
    :: d_step { pc == START && LEASE_FREE && FAULT(stales) -> TAKE(stales); START_STEP(); DECIDE_STEP(true); ENDSTEP }
    /* a re-decision after a rejected batch or a lost response */
    :: d_step { pc == DECIDE -> DECIDE_STEP(false); ENDSTEP }
    :: d_step { pc == DECIDE && FAULT(stales) -> TAKE(stales); DECIDE_STEP(true); ENDSTEP }
    :: d_step {
        pc == PIN ->                          /* the rollback pins its target: conditional write */
        if :: stored[g] -> PIN_IT(g, ngen); printf("@@ %c pins plan g%d\n", ACTOR, g); pc = BATCH :: else -> pc = DONE fi;
        ENDSTEP
       }
    :: d_step {
        pc == BATCH ->
        if
        :: RENEW_FAILS -> pc = DONE                        /* the renewal before the batch failed */
        :: else ->
            NEXT_BATCH();
            SUBMIT(wf, cur, OLDC, NEWC, nf);
            if :: out == OK -> AFTER_OK() :: else -> pc = DECIDE fi
        fi;
        ENDSTEP
       }
    :: d_step {
        pc == BATCH && FAULT(losts) && !RENEW_FAILS ->    /* applied (or not), the response lost */
        TAKE(losts);
        NEXT_BATCH();
        SUBMIT(wf, cur, OLDC, NEWC, nf);
        pc = DECIDE
       }
    :: d_step {
        /* the canary batch, and its gates fail (if it is accepted) */
        pc == BATCH && FAULT(gates) && !RENEW_FAILS && role == ENACTOR && fresh && tgt[0] != 0 && E > 1 ->
        TAKE(gates); gatefail = 1;
        NEXT_BATCH();
        SUBMIT(wf, cur, OLDC, NEWC, nf);
        if :: out == OK -> AFTER_OK() :: else -> pc = DECIDE fi;
        gatefail = 0;
        ENDSTEP
       }
    :: d_step {
        pc == GATEPIN ->                                   /* pin the previous content source */
        if :: stored[psrc] -> PIN_IT(psrc, g); printf("@@ %c gate failed: pins plan g%d\n", ACTOR, psrc); pc = GATEWRITE :: else -> pc = DONE fi;
        ENDSTEP
       }
    :: d_step {
        pc == GATEWRITE ->
        /* restore the canary's previous content with a batch that DELETEs the fence we last
           wrote; rejected: a newer writer owns the zone. Either way: stop (VerificationFailed) */
        cur = 0;
        nf = F(g, nrev + 1, psrc, FSEQ(wf) + 1, me, 1);
        SUBMIT(wf, cur, g, prev0, nf);
        pc = DONE;
        ENDSTEP
       }
    :: d_step { pc == CLEAN -> CLEAN_STEP(false); ENDSTEP }
    :: d_step { pc == CLEAN && FAULT(stales) -> TAKE(stales); CLEAN_STEP(true); ENDSTEP }
    :: d_step {
        /* the store deletes, each conditional on our lease and on the plan not pinned */
        pc == CDEL ->
        if
        :: RENEW_FAILS -> skip
        :: else ->
            k = 1;
            do
            :: k <= NG ->
                if :: (cmask & (1 << k)) != 0 && DELETABLE(k) -> printf("@@ %c clean-up deletes plan g%d\n", ACTOR, k); CHECK_I3_DELETE(k); stored[k] = false
                   :: else -> skip
                fi;
                k++
            :: else -> break
            od
        fi;
        pc = DONE;
        ENDSTEP
       }
#ifndef LIVE
    :: pc == DONE -> break
#endif
    od
}

#ifdef LIVE
/* I4: once the planner is done, every endpoint ends up with the newest plan's content under
   a complete fence of the newest generation (checked under weak fairness, pan -a -f) */
#define CONVERGED (planner_done && FGEN(fence) == NG && FSRC(fence) == NG && FDONE(fence) && content[0] == NG && content[E - 1] == NG)
ltl i4 { <> [] CONVERGED }
#endif

init {
    atomic {
        stored[1] = true;
        fence = F(1, 0, 1, 1, 0, 1);
        pfence = 0;   /* before the bootstrap batch: no fence, no records */
        e = 0; do :: e < E -> content[e] = 1; e++ :: else -> break od;
        run Planner();
        e = 0; do :: e < NE -> run Actor(e + 1, ENACTOR); e++ :: else -> break od;
#if REPAIR
        run Actor(NE + 1, REPAIRER);
#endif
#if ROLLBACK
        run Actor(NE + 2, ROLLER);
#endif
        if :: NWIPE > 0 -> run Wipe() :: else -> skip fi;
#ifdef LIVE
        if :: NLEASE > 0 -> run LeaseLoss() :: else -> skip fi
#endif
    }
}
