/*
 * Test environment only: Wine 8.0 (Debian 12) has no bcryptprimitives.dll, which the
 * Rust standard library's Windows build imports for ProcessPrng (Windows 8 and later
 * have it; Wine added it in 9.0). This stand-in gives ProcessPrng from RtlGenRandom
 * (advapi32's SystemFunction036), so the .exe starts under Wine 8. Never shipped.
 */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, n)) return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
