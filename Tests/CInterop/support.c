#include "support.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cinterop_check(cinterop_report *report, int condition, const char *format, ...) {
    if (report == NULL) return;
    if (!condition) report->failures++;
    char line[512];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(line, sizeof line, format, arguments);
    va_end(arguments);
    int n = snprintf(report->text + report->length, sizeof report->text - report->length, "%s%s\n",
                     condition ? "ok: " : "FAILED: ", line);
    if (n > 0) {
        report->length += (size_t)n;
        if (report->length >= sizeof report->text) report->length = sizeof report->text - 1;
    }
}

const char *cinterop_report_text(const cinterop_report *report) { return report->text; }

__attribute__((noinline)) void cinterop_scrub_stack(void) {
    volatile char wipe[65536];
    memset((char *)wipe, 0, sizeof wipe);
    __asm__ __volatile__("" : : "r"(wipe) : "memory");
}

size_t cinterop_peak_resident_bytes(void) {
    FILE *status = fopen("/proc/self/status", "r");
    if (status == NULL) return 0;
    char line[256];
    size_t kib = 0;
    while (fgets(line, sizeof line, status) != NULL)
        if (sscanf(line, "VmHWM: %zu kB", &kib) == 1) break;
    fclose(status);
    return kib * 1024;
}
