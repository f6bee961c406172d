// What the checks and shapes share: the report, and stack hygiene.
#ifndef CINTEROP_SUPPORT_H
#define CINTEROP_SUPPORT_H

#include <bgc.h>

#include "CInterop.h"

/// Notes one check in the report: "ok: ..." or "FAILED: ...".
void cinterop_check(cinterop_report *report, int condition, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

#define CHECK(report, condition, ...) cinterop_check((report), (condition), __VA_ARGS__)

/// Zeroes 64 KiB of dead stack below the caller, so addresses left there by
/// returned frames keep nothing alive.
void cinterop_scrub_stack(void);

/// Keeps `p` in a register up to here (a collection before sees it).
static inline void cinterop_keep(const void *p) { __asm__ __volatile__("" : : "r"(p) : "memory"); }

#endif
