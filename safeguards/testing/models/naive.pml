/*
 * The naive 2025 enactor, step for step as safeguards/testing/naive.py does it, so that a
 * counterexample trail of this model is a schedule of the Python race harness.
 *
 * One process step = one harness step: an actor runs from the checkpoint it is parked at to
 * its next checkpoint (every step is one atomic block) and prints a line
 *     @@ <actor> <fault> <checkpoint> g=<generation> i=<index>
 * which safeguards/testing/models/trail.py turns into a harness schedule ("A", "B+crash", ...).
 *
 * World (as safeguards/testing/world.py builds it): one zone, E endpoints (ep1 .. regional,
 * the last one is the one that went empty in 2025), each an A record set holding the content
 * of one plan (content[e] = that plan's generation, 0 = no records) and a live-plan pointer
 * TXT record beside it (ptr[e]). Plan g1 is live everywhere at the start; the planner P
 * publishes g2 .. NG; enactors A, B, C (NE of them) each run one round:
 *   pick the newest plan -> plan.loaded
 *   read the last applied generation, the one freshness check -> fence.checked
 *   if fresh: per endpoint, batch.before -> UPSERT records + pointer -> batch.after;
 *             record applied (never lowers it) -> store.recorded
 *   clean-up: the list of plans older than reference - KEEP, taken once; per plan:
 *             cleanup.before -> read the zone, DELETE the records of every endpoint whose
 *             pointer names the plan, delete the plan -> cleanup.after
 *
 * Faults (budgets below; every one can hit any actor at any step where it means something):
 *   crash         the actor dies at its checkpoint and restarts from scratch in the same step
 *   lose_response the step's change batch is applied, its response lost (OutcomeUnknown: the
 *                 naive round ends with that error)
 *   stale_read    the step's zone read returns the zone as it was before its latest batch
 *   lease expiry  the naive enactor holds the store lease only inside one statement, so a
 *                 lost lease changes nothing it does: not modelled separately
 *
 * Invariants (INV selects one, 0 = all): I1 never empty, I2 a pointer never goes back,
 * I3 no endpoint points at a deleted plan / clean-up never deletes a live plan.
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
#ifndef NCRASH
#define NCRASH 1
#endif
#ifndef NLOST
#define NLOST 1
#endif
#ifndef NSTALE
#define NSTALE 1
#endif
#ifndef INV
#define INV 0
#endif

#if (INV == 0 || INV == 1) && defined(REGIONAL)
#define CHECK_I1 assert(content[E-1] != 0)   /* -DREGIONAL: only the regional endpoint, the 2025 shape */
#elif INV == 0 || INV == 1
#define CHECK_I1 assert(content[0] != 0 && content[E-1] != 0)
#else
#define CHECK_I1 skip
#endif
#if INV == 0 || INV == 2
#define CHECK_I2(e, g) assert(g >= ptr[e])
#else
#define CHECK_I2(e, g) skip
#endif
#if INV == 0 || INV == 3
#define CHECK_I3_WRITE(g) assert(stored[g])
#define CHECK_I3_DELETE(g) assert(ptr[0] != g && ptr[E-1] != g)
#else
#define CHECK_I3_WRITE(g) skip
#define CHECK_I3_DELETE(g) skip
#endif

mtype = { none, crash, lose_response, stale_read };

/* checkpoints (the harness's names are printed) */
#define START    0
#define LOADED   1
#define CHECKED  2
#define BBEFORE  3
#define BAFTER   4
#define RECORDED 5
#define CBEFORE  6
#define CAFTER   7
#define DONE     8

byte content[E];     /* Route 53: endpoint e holds plan content[e]'s values, 0 = no records */
byte ptr[E];         /* Route 53: the live-plan pointer of endpoint e */
byte pcontent[E];    /* the zone before its latest batch: what a stale read returns */
byte pptr[E];
bool stored[NG + 1]; /* the plan store */
byte applied;        /* the store's applied generation */
byte crashes = NCRASH;
byte losts = NLOST;
byte stales = NSTALE;

#define SAVE_PREV  e = 0; do :: e < E -> pcontent[e] = content[e]; pptr[e] = ptr[e]; e++ :: else -> break od

/* oldest plan in mask above `after` (0: none) */
#define NEXT_OLD(mask, after, out) \
    out = after + 1; do :: out <= NG && (mask & (1 << out)) == 0 -> out++ :: out > NG -> out = 0; break :: else -> break od

#define PRINT(a, f) printf("@@ %c %e ", a, f)

proctype Planner() {
    byte g = 2;
    do
    :: atomic { g <= NG -> stored[g] = true; printf("@@ P %e plan.published g=%d i=0\n", none, g); g++ }
    :: atomic { g > NG -> printf("@@ P %e <done> g=0 i=0\n", none); break }
    od
}

inline STEP() {
        if
        :: cp == START ->
            g = NG; do :: g > 0 && !stored[g] -> g-- :: else -> break od;
            if
            :: g == 0 -> cp = DONE; PRINT(name, fault); printf("<done> g=0 i=0\n")
            :: else -> cp = LOADED; PRINT(name, fault); printf("plan.loaded g=%d i=0\n", g)
            fi
        :: cp == LOADED ->
            last = applied; fresh = (last == 0 || g > last);
            cp = CHECKED; PRINT(name, fault); printf("fence.checked g=%d i=0\n", g)
        :: cp == CHECKED && fresh ->
            idx = 0; cp = BBEFORE; PRINT(name, fault); printf("batch.before g=%d i=%d\n", g, idx + 1)
        :: cp == BBEFORE ->
            /* UPSERT records and pointer: no condition at all */
            SAVE_PREV;
            CHECK_I2(idx, g); CHECK_I3_WRITE(g);
            content[idx] = g; ptr[idx] = g;
            CHECK_I1;
            if
            :: fault == lose_response -> cp = DONE; PRINT(name, fault); printf("<done> g=%d i=0\n", g)
            :: else -> cp = BAFTER; PRINT(name, fault); printf("batch.after g=%d i=%d\n", g, idx + 1)
            fi
        :: cp == BAFTER && idx + 1 < E ->
            idx++; cp = BBEFORE; PRINT(name, fault); printf("batch.before g=%d i=%d\n", g, idx + 1)
        :: cp == BAFTER && idx + 1 >= E ->
            if :: applied < g -> applied = g :: else -> skip fi;
            cp = RECORDED; PRINT(name, fault); printf("store.recorded g=%d i=0\n", g)
        :: (cp == RECORDED || (cp == CHECKED && !fresh)) ->
            if :: cp == RECORDED -> ref = g :: else -> ref = (last > 0 -> last : g) fi;
            oldmask = 0; k = 1;
            do :: k <= NG -> if :: stored[k] && k + KEEP < ref -> oldmask = oldmask | (1 << k) :: else -> skip fi; k++
               :: else -> break
            od;
            NEXT_OLD(oldmask, 0, cg);
            if
            :: cg == 0 -> cp = DONE; PRINT(name, fault); printf("<done> g=0 i=0\n")
            :: else -> cp = CBEFORE; PRINT(name, fault); printf("cleanup.before g=%d i=0\n", cg)
            fi
        :: cp == CBEFORE ->
            /* list_record_sets (maybe stale), then DELETE the victims' records as read */
            e = 0;
            do
            :: e < E ->
                if :: fault == stale_read -> rc[e] = pcontent[e]; rp[e] = pptr[e]
                   :: else -> rc[e] = content[e]; rp[e] = ptr[e]
                fi; e++
            :: else -> break
            od;
            k = 0; e = 0;  /* k: the batch's DELETEs all match (1) / some do not (2) / no batch (0) */
            do
            :: e < E ->
                if :: rp[e] == cg && rc[e] != 0 -> if :: content[e] == rc[e] && k != 2 -> k = 1 :: else -> k = 2 fi
                   :: else -> skip
                fi; e++
            :: else -> break
            od;
            if
            :: k == 2 -> cp = DONE; PRINT(name, fault); printf("<done> g=%d i=0\n", cg)  /* BatchRejected */
            :: k == 1 && fault == lose_response ->
                SAVE_PREV;
                e = 0; do :: e < E -> if :: rp[e] == cg && rc[e] != 0 -> content[e] = 0 :: else -> skip fi; e++
                          :: else -> break od;
                CHECK_I1;
                cp = DONE; PRINT(name, fault); printf("<done> g=%d i=0\n", cg)  /* OutcomeUnknown */
            :: else ->
                if
                :: k == 1 ->
                    SAVE_PREV;
                    e = 0; do :: e < E -> if :: rp[e] == cg && rc[e] != 0 -> content[e] = 0 :: else -> skip fi; e++
                              :: else -> break od;
                    CHECK_I1
                :: else -> skip
                fi;
                CHECK_I3_DELETE(cg);
                stored[cg] = false;
                cp = CAFTER; PRINT(name, fault); printf("cleanup.after g=%d i=0\n", cg)
            fi;
            e = 0; do :: e < E -> rc[e] = 0; rp[e] = 0; e++ :: else -> break od
        :: cp == CAFTER ->
            NEXT_OLD(oldmask, cg, k);
            if
            :: k == 0 -> cp = DONE; PRINT(name, fault); printf("<done> g=0 i=0\n")
            :: else -> cg = k; cp = CBEFORE; PRINT(name, fault); printf("cleanup.before g=%d i=0\n", cg)
            fi
        fi
}

proctype Naive(byte name) {
    byte cp = START;
    byte g, last, idx, ref, cg, e, k;
    byte oldmask;
    bool fresh;
    mtype fault;
    byte rc[E];      /* the zone as the clean-up step read it */
    byte rp[E];
    /* one harness step per d_step: the fault it carries is chosen first, then the actor runs
       deterministically to its next checkpoint */
    do
    :: d_step { cp != DONE -> fault = none; STEP() }
    :: d_step { cp != DONE && crashes > 0 && cp != START ->
                crashes--; fault = crash;
                cp = START; g = 0; last = 0; idx = 0; ref = 0; cg = 0; oldmask = 0; fresh = false;
                STEP() }
    :: d_step { (cp == BBEFORE || cp == CBEFORE) && losts > 0 -> losts--; fault = lose_response; STEP() }
    :: d_step { cp == CBEFORE && stales > 0 -> stales--; fault = stale_read; STEP() }
    :: cp == DONE -> break
    od
}

init {
    byte e;
    atomic {
        /* bootstrap: g1 is live on every endpoint */
        stored[1] = true; applied = 1;
        /* (the bootstrap wrote one batch per endpoint: a stale read shows the last one undone) */
        e = 0; do :: e < E -> content[e] = 1; ptr[e] = 1; pcontent[e] = 1; pptr[e] = 1; e++ :: else -> break od;
        pcontent[E - 1] = 0; pptr[E - 1] = 0;
        run Planner();
        e = 0; do :: e < NE -> run Naive('A' + e); e++ :: else -> break od
    }
}
