#include <malloc.h>
#include "Startup.h"

int ebb_limit_malloc_arenas(int count) {
    return mallopt(M_ARENA_MAX, count);
}
