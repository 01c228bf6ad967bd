/*
** poollua.c -- a lua5.4-compatible stand-alone interpreter whose state runs
** on a libpool heap of its own (pool_lua_newstate), with the `poolalloc`
** module preloaded.  Options, messages and exit codes follow lua5.4.
**
** Environment: POOLLUA_LIMIT=bytes[k|m|g] caps the state's heap (scripts
** may not then change it; without it they may, with poolalloc.limit(n));
** POOL_DEBUG=1 turns on libpool's debug checks for the heap (libpool reads
** it, for every heap, as in every face).
*/
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "pool_lua.h"

#define PL_OPT_ERROR 1   /* bad option */
#define PL_OPT_I 2       /* -i */
#define PL_OPT_V 4       /* -v */
#define PL_OPT_E 8       /* -e */
#define PL_OPT_NOENV 16  /* -E */

static const char *pl_progname = "lua";
static lua_State *pl_state;   /* for the SIGINT handler */

/* "progname: msg" on stderr, like lua5.4. */
static void pl_message(const char *pname, const char *msg) {
    if (pname) fprintf(stderr, "%s: ", pname);
    fprintf(stderr, "%s\n", msg);
    fflush(stderr);
}

/* Report a failed status with the error message on the stack. */
static int pl_report(lua_State *L, int status) {
    if (status != LUA_OK) {
        pl_message(pl_progname, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return status;
}

static void pl_usage(const char *bad) {
    if (bad[1] == 'e' || bad[1] == 'l') fprintf(stderr, "%s: '%s' needs argument\n", pl_progname, bad);
    else fprintf(stderr, "%s: unrecognized option '%s'\n", pl_progname, bad);
    fprintf(stderr,
            "usage: %s [options] [script [args]]\n"
            "Available options are:\n"
            "  -e stat   execute string 'stat'\n"
            "  -i        enter interactive mode after executing 'script'\n"
            "  -l mod    require library 'mod' into global 'mod'\n"
            "  -l g=mod  require library 'mod' into global 'g'\n"
            "  -v        show version information\n"
            "  -E        ignore environment variables\n"
            "  -W        turn warnings on\n"
            "  --        stop handling options\n"
            "  -         stop handling options and execute stdin\n",
            pl_progname);
    fflush(stderr);
}

/* Hook set by SIGINT: stop the running script with an error. */
static void pl_stop(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void pl_sigint(int sig) {
    signal(sig, SIG_DFL);
    lua_sethook(pl_state, pl_stop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

/* Error handler: the message (made a string) plus a traceback. */
static int pl_msghandler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Call the function below `narg` arguments with the traceback handler;
** Ctrl-C stops it. */
static int pl_docall(lua_State *L, int narg, int nres) {
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, pl_msghandler);
    lua_insert(L, base);
    pl_state = L;
    signal(SIGINT, pl_sigint);
    int status = lua_pcall(L, narg, nres, base);
    signal(SIGINT, SIG_DFL);
    lua_remove(L, base);
    return status;
}

static int pl_dochunk(lua_State *L, int status) {
    if (status == LUA_OK) status = pl_docall(L, 0, 0);
    return pl_report(L, status);
}

static int pl_dofile(lua_State *L, const char *name) {
    return pl_dochunk(L, luaL_loadfile(L, name));
}

static int pl_dostring(lua_State *L, const char *s, const char *name) {
    return pl_dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* -l [g=]mod: require mod into global g (or mod). */
static int pl_dolibrary(lua_State *L, char *spec) {
    char *glob = spec, *mod = strchr(spec, '=');
    if (mod) *mod++ = '\0';
    else mod = spec;
    lua_getglobal(L, "require");
    lua_pushstring(L, mod);
    int status = pl_docall(L, 1, 1);
    if (status == LUA_OK) lua_setglobal(L, glob);
    return pl_report(L, status);
}

/* Scan the options; *script gets the index of the script (argc if none). */
static int pl_collect(char **argv, int *script) {
    int flags = 0, i;
    for (i = 1; argv[i]; i++) {
        *script = i;
        if (argv[i][0] != '-') return flags;
        switch (argv[i][1]) {
        case '-':
            if (argv[i][2]) return PL_OPT_ERROR;
            *script = i + 1;
            return flags;
        case '\0':
            return flags;
        case 'E':
            if (argv[i][2]) return PL_OPT_ERROR;
            flags |= PL_OPT_NOENV;
            break;
        case 'W':
            if (argv[i][2]) return PL_OPT_ERROR;
            break;
        case 'i':
            flags |= PL_OPT_I;
            __attribute__((fallthrough));   /* -i implies -v */
        case 'v':
            if (argv[i][2]) return PL_OPT_ERROR;
            flags |= PL_OPT_V;
            break;
        case 'e':
            flags |= PL_OPT_E;
            __attribute__((fallthrough));   /* both take an argument */
        case 'l':
            if (argv[i][2] == '\0') {
                i++;
                if (argv[i] == NULL || argv[i][0] == '-') return PL_OPT_ERROR;
            }
            break;
        default:
            return PL_OPT_ERROR;
        }
    }
    *script = i;
    return flags;
}

/* Run -e, -l and -W in order; 0 if one of them failed. */
static int pl_runargs(lua_State *L, char **argv, int n) {
    for (int i = 1; i < n; i++) {
        int opt = argv[i][1];
        if (opt == 'W') {
            lua_warning(L, "@on", 0);
        } else if (opt == 'e' || opt == 'l') {
            char *extra = argv[i][2] ? argv[i] + 2 : argv[++i];
            int status = opt == 'e' ? pl_dostring(L, extra, "=(command line)") : pl_dolibrary(L, extra);
            if (status != LUA_OK) return 0;
        }
    }
    return 1;
}

/* LUA_INIT_5_4 or LUA_INIT: "@file" runs a file, anything else is code. */
static int pl_init(lua_State *L) {
    const char *name = "=LUA_INIT_" LUA_VERSION_MAJOR "_" LUA_VERSION_MINOR;
    const char *init = getenv(name + 1);
    if (init == NULL) {
        name = "=LUA_INIT";
        init = getenv(name + 1);
    }
    if (init == NULL) return LUA_OK;
    if (init[0] == '@') return pl_dofile(L, init + 1);
    return pl_dostring(L, init, name);
}

/* The `arg` table: script at 0, options before it negative. */
static void pl_argtable(lua_State *L, char **argv, int argc, int script) {
    if (script == argc) script = 0;
    lua_createtable(L, argc - (script + 1), script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

/* Run the script ("-" is stdin unless after "--") with arg[1..n]. */
static int pl_script(lua_State *L, char **argv) {
    const char *fname = argv[0];
    if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0) fname = NULL;
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
        lua_getglobal(L, "arg");
        int n = (int)luaL_len(L, -1);
        luaL_checkstack(L, n + 3, "too many arguments to script");
        for (int i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
        lua_remove(L, -n - 1);
        status = pl_docall(L, n, LUA_MULTRET);
    }
    return pl_report(L, status);
}

/* ---- the REPL ---- */

/* Read one line with the prompt _PROMPT / _PROMPT2 (or "> " / ">> ");
** push it without its newline.  0 at end of input. */
static int pl_readline(lua_State *L, int first) {
    char buf[512];
    lua_getglobal(L, first ? "_PROMPT" : "_PROMPT2");
    const char *prompt = lua_tostring(L, -1);
    fputs(prompt ? prompt : first ? "> " : ">> ", stdout);
    fflush(stdout);
    lua_pop(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int got = 0;
    while (fgets(buf, sizeof buf, stdin)) {
        size_t n = strlen(buf);
        got = 1;
        if (n && buf[n - 1] == '\n') {
            luaL_addlstring(&b, buf, n - 1);
            break;
        }
        luaL_addlstring(&b, buf, n);
    }
    luaL_pushresult(&b);
    if (!got) lua_pop(L, 1);
    else if (!isatty(0)) {      /* echo piped input as lua5.4's readline does */
        fputs(lua_tostring(L, -1), stdout);
        fputc('\n', stdout);
    }
    return got;
}

/* A syntax error at <eof>: the statement is not finished yet. */
static int pl_incomplete(lua_State *L, int status) {
    if (status != LUA_ERRSYNTAX) return 0;
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    const char *eof = "<eof>";
    return len >= strlen(eof) && strcmp(msg + len - strlen(eof), eof) == 0;
}

/* Compile the line on the stack as `return line` (an expression) or as
** statements, reading more lines while it is incomplete.  Leaves the chunk
** (or an error message) in place of the line. */
static int pl_loadline(lua_State *L) {
    const char *line = lua_tostring(L, -1);
    const char *ret = lua_pushfstring(L, "return %s", line);
    int status = luaL_loadbuffer(L, ret, strlen(ret), "=stdin");
    if (status == LUA_OK) {
        lua_remove(L, -2);      /* the "return" string */
        lua_remove(L, -2);      /* the line */
        return status;
    }
    lua_pop(L, 2);
    for (;;) {
        size_t len;
        line = lua_tolstring(L, -1, &len);
        status = luaL_loadbuffer(L, line, len, "=stdin");
        if (!pl_incomplete(L, status)) break;
        lua_pop(L, 1);
        if (!pl_readline(L, 0)) {   /* end of input: report the error */
            status = luaL_loadbuffer(L, line, len, "=stdin");
            break;
        }
        lua_pushliteral(L, "\n");
        lua_insert(L, -2);
        lua_concat(L, 3);
    }
    lua_remove(L, -2);
    return status;
}

/* Print the results on the stack with the global `print`. */
static void pl_print(lua_State *L) {
    int n = lua_gettop(L);
    if (n == 0) return;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK)
        pl_message(pl_progname, lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1)));
}

static void pl_repl(lua_State *L) {
    const char *saved = pl_progname;
    pl_progname = NULL;
    for (;;) {
        lua_settop(L, 0);
        if (!pl_readline(L, 1)) break;
        int status = pl_loadline(L);
        if (status == LUA_OK) status = pl_docall(L, 0, LUA_MULTRET);
        if (status == LUA_OK) pl_print(L);
        else pl_report(L, status);
    }
    lua_settop(L, 0);
    fputc('\n', stdout);
    fflush(stdout);
    pl_progname = saved;
}

/* ---- main ---- */

/* The protected main: everything lua5.4's does, in the same order. */
static int pl_main(lua_State *L) {
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    int script = argc;
    int flags = pl_collect(argv, &script);
    luaL_checkversion(L);
    if (flags == PL_OPT_ERROR) {
        pl_usage(argv[script]);
        return 0;
    }
    if (flags & PL_OPT_V) {
        fputs(LUA_COPYRIGHT "\n", stdout);
        fflush(stdout);
    }
    if (flags & PL_OPT_NOENV) {
        lua_pushboolean(L, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
    }
    luaL_openlibs(L);
    /* require "poolalloc" finds this process's own copy, not a second one. */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_poolalloc);
    lua_setfield(L, -2, "poolalloc");
    lua_pop(L, 1);
    pl_argtable(L, argv, argc, script);
    lua_gc(L, LUA_GCRESTART);
    lua_gc(L, LUA_GCGEN, 0, 0);
    if (!(flags & PL_OPT_NOENV) && pl_init(L) != LUA_OK) return 0;
    if (!pl_runargs(L, argv, script)) return 0;
    if (script < argc && pl_script(L, argv + script) != LUA_OK) return 0;
    if (flags & PL_OPT_I) {
        pl_repl(L);
    } else if (script == argc && !(flags & (PL_OPT_E | PL_OPT_V))) {
        if (isatty(0)) {
            fputs(LUA_COPYRIGHT "\n", stdout);
            pl_repl(L);
        } else {
            pl_dofile(L, NULL);
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* POOLLUA_LIMIT: bytes with an optional k, m or g; 0 means none. */
static int pl_parse_limit(const char *s, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || s[0] == '-') return -1;
    int shift = 0;
    switch (tolower((unsigned char)*end)) {
    case 'k': shift = 10; end++; break;
    case 'm': shift = 20; end++; break;
    case 'g': shift = 30; end++; break;
    }
    if (*end || (shift && v > (~0ULL >> shift))) return -1;
    *out = (size_t)(v << shift);
    return 0;
}

int main(int argc, char **argv) {
    if (argv[0] && argv[0][0]) pl_progname = argv[0];
    pool_lua_options_t opts = { .limit = 0, .debug = 0, .script_limit = 1 };
    const char *lim = getenv("POOLLUA_LIMIT");
    if (lim && *lim) {
        if (pl_parse_limit(lim, &opts.limit) != 0) {
            fprintf(stderr, "%s: bad POOLLUA_LIMIT '%s' (bytes, with an optional k, m or g)\n", pl_progname, lim);
            return EXIT_FAILURE;
        }
        opts.script_limit = 0;
    }
    lua_State *L = pool_lua_newstate(&opts);
    if (L == NULL) {
        pl_message(pl_progname, "cannot create state: not enough memory");
        return EXIT_FAILURE;
    }
    lua_gc(L, LUA_GCSTOP);
    lua_pushcfunction(L, pl_main);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 0);
    int ok = lua_toboolean(L, -1);
    pl_report(L, status);
    size_t leaked = pool_lua_close(L);
    return (ok && status == LUA_OK && leaked == 0) ? EXIT_SUCCESS : EXIT_FAILURE;
}
