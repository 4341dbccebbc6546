/*
 * LD_PRELOAD shim for mosquitto in the MQTT "app-pings-dropped" sample: the
 * broker's MQTT layer stops answering PINGREQ while its WebSocket layer
 * (libwebsockets) keeps answering WebSocket Pings. mosquitto has no option
 * for that, so this shim drops, WSP_DROP_AFTER seconds after the process
 * starts, every write of exactly one WebSocket binary frame holding one
 * PINGRESP (82 02 D0 00): the call reports success and nothing is sent. Each
 * drop is logged as a JSON line ("ev":"app_pong_dropped") to WSP_DROP_LOG.
 * Any other write goes through untouched.
 *
 *   cc -shared -fPIC -O2 -o droppingresp.so droppingresp.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static double t_start;

__attribute__((constructor)) static void init(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    t_start = tv.tv_sec + tv.tv_usec / 1e6;
}

static int drop(const void *buf, size_t len) {
    static const unsigned char pingresp[4] = {0x82, 0x02, 0xd0, 0x00};
    if (len != 4 || memcmp(buf, pingresp, 4) != 0) return 0;
    const char *after = getenv("WSP_DROP_AFTER");
    struct timeval tv;
    gettimeofday(&tv, NULL);
    double now = tv.tv_sec + tv.tv_usec / 1e6;
    if (!after || now - t_start < atof(after)) return 0;
    const char *path = getenv("WSP_DROP_LOG");
    if (path) {
        FILE *f = fopen(path, "a");
        if (f) {
            fprintf(f, "{\"t\":%.6f,\"role\":\"server\",\"ev\":\"app_pong_dropped\"}\n", now);
            fclose(f);
        }
    }
    return 1;
}

ssize_t send(int fd, const void *buf, size_t len, int flags) {
    static ssize_t (*real)(int, const void *, size_t, int);
    if (!real) real = dlsym(RTLD_NEXT, "send");
    if (drop(buf, len)) return (ssize_t)len;
    return real(fd, buf, len, flags);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen) {
    static ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    if (!real) real = dlsym(RTLD_NEXT, "sendto");
    if (drop(buf, len)) return (ssize_t)len;
    return real(fd, buf, len, flags, to, tolen);
}

ssize_t write(int fd, const void *buf, size_t len) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = dlsym(RTLD_NEXT, "write");
    if (drop(buf, len)) return (ssize_t)len;
    return real(fd, buf, len);
}
