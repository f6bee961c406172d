// Foreign-memory measurement for ForeignResource.
//
// Why C: mallinfo2 is declared in <malloc.h>, which the Swift Glibc module
// does not include, and it returns a struct by value.
#include "internal.h"

#include <malloc.h>

size_t cgc_malloc_in_use_bytes(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}
