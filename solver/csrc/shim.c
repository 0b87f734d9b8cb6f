/* Accessors kiln-solver needs that libsolv only offers as struct fields or `static inline`
 * functions. Compiled against the installed headers, so field offsets always match the linked
 * library. Each function is a one-liner on purpose: logic lives in Rust. */
#include <stdio.h>
#include <stdlib.h>
#include <solv/pool.h>
#include <solv/repo.h>
#include <solv/solvable.h>
#include <solv/solver.h>
#include <solv/transaction.h>
#include <solv/bitmap.h>
#include <solv/chksum.h>

void kiln_queue_push(Queue *q, Id id) { queue_push(q, id); }
void kiln_queue_push2(Queue *q, Id a, Id b) { queue_push2(q, a, b); }
void kiln_queue_empty(Queue *q) { queue_empty(q); }

int kiln_pool_nsolvables(const Pool *pool) { return pool->nsolvables; }

/* The solvable's basic ids; returns 0 if p is out of range or a free slot. */
int kiln_solvable_ids(const Pool *pool, Id p, Id *name, Id *arch, Id *evr, Repo **repo)
{
  const Solvable *s;
  if (p <= 1 || p >= pool->nsolvables)
    return 0;
  s = pool->solvables + p;
  if (!s->repo)
    return 0;
  *name = s->name;
  *arch = s->arch;
  *evr = s->evr;
  *repo = s->repo;
  return 1;
}

int kiln_solvable_installable(Pool *pool, Id p) { return pool_installable(pool, pool_id2solvable(pool, p)); }

const char *kiln_solvable_location(Pool *pool, Id p)
{
  unsigned int medianr = 0;
  return solvable_get_location(pool_id2solvable(pool, p), &medianr);
}

const char *kiln_solvable_checksum(Pool *pool, Id p, const char **type)
{
  Id t = 0;
  const char *c = solvable_lookup_checksum(pool_id2solvable(pool, p), SOLVABLE_CHECKSUM, &t);
  *type = c ? solv_chksum_type2str(t) : 0;
  return c;
}

unsigned long long kiln_solvable_num(Pool *pool, Id p, Id key)
{
  return solvable_lookup_num(pool_id2solvable(pool, p), key, 0);
}

const char *kiln_repo_name(const Repo *r) { return r->name; }
Id kiln_repo_id(const Repo *r) { return r->repoid; }
void kiln_repo_bounds(const Repo *r, Id *start, Id *end) { *start = r->start; *end = r->end; }
void kiln_repo_set_priority(Repo *r, int priority, int subpriority)
{
  r->priority = priority;
  r->subpriority = subpriority;
}

/* Hide solvables from the solver (dnf's excludes): creates the considered map on first use. */
void kiln_pool_disable(Pool *pool, Id p)
{
  if (!pool->considered)
    {
      pool->considered = solv_calloc(1, sizeof(Map));
      map_init(pool->considered, pool->nsolvables);
      map_setall(pool->considered);
    }
  if (p > 0 && p < pool->nsolvables)
    MAPCLR(pool->considered, p);
}

int kiln_pool_disabled(const Pool *pool, Id p)
{
  return pool->considered && p > 0 && p < pool->nsolvables && !MAPTST(pool->considered, p);
}

/* The pool's own free() of the map in pool_free covers `considered`. */

const Queue *kiln_transaction_steps(const Transaction *t) { return &t->steps; }

FILE *kiln_fopen(const char *path, const char *mode) { return fopen(path, mode); }
int kiln_fclose(FILE *f) { return fclose(f); }
void kiln_free(void *p) { free(p); }

const char *kiln_solvid2str(Pool *pool, Id p) { return pool_solvid2str(pool, p); }

/* Forget every exclusion (before a new request re-applies its own). */
void kiln_pool_reset_considered(Pool *pool)
{
  if (pool->considered)
    {
      map_free(pool->considered);
      pool->considered = solv_free(pool->considered);
    }
}
