/*
 * Test only: runs a program with arguments in which the marker @D800@ stands for an
 * unpaired UTF-16 surrogate (U+D800): a file name Windows allows and UTF-8 cannot
 * spell, which no Linux command line can pass. Waits for it and exits with its exit
 * code; its output goes where this program's goes.
 *
 *   spawn.exe PROGRAM ARG...
 */
#include <windows.h>
#include <wchar.h>

static void append(wchar_t *cmd, size_t cap, const wchar_t *arg) {
    size_t n = wcslen(cmd);
    if (n + 1 < cap) cmd[n++] = L'"';
    for (const wchar_t *p = arg; *p && n + 2 < cap; p++) {
        if (wcsncmp(p, L"@D800@", 6) == 0) {
            cmd[n++] = (wchar_t)0xD800;
            p += 5;
        } else {
            cmd[n++] = *p;
        }
    }
    if (n + 2 < cap) { cmd[n++] = L'"'; cmd[n++] = L' '; }
    cmd[n] = 0;
}

int wmain(int argc, wchar_t **argv) {
    static wchar_t cmd[32768];
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    DWORD code = 255;
    if (argc < 2) return 254;
    for (int i = 1; i < argc; i++) append(cmd, sizeof cmd / sizeof cmd[0], argv[i]);
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    if (!CreateProcessW(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) return 253;
    WaitForSingleObject(pi.hProcess, INFINITE);
    GetExitCodeProcess(pi.hProcess, &code);
    return (int)code;
}
