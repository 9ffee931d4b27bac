/* The status page served at /: src/admin/status_page.html built into the binary as one NUL-terminated string. */
#include "admin/http.h"

/* The assembler copies the file in at build time (the Makefile makes this object depend on it). */
__asm__(".section .rodata\n"
        ".global http_page_html\n"
        ".type http_page_html, @object\n"
        ".balign 16\n"
        "http_page_html:\n"
        ".incbin \"src/admin/status_page.html\"\n"
        ".byte 0\n"
        ".size http_page_html, . - http_page_html\n"
        ".previous\n");
