/* Deferred release of TorchSharp Scalars (see Engine.fs, "Scalar lifetime").
 *
 * Why: TorchSharp 0.107 passes a Scalar to libtorch as its raw handle (`THSTensor_mul_scalar(Handle, s.Handle)`) and
 * never keeps the managed Scalar alive across the call (no GC.KeepAlive). Every implicit conversion (`x * 0.5`,
 * `a + b`'s alpha = 1, `square()`, the optimizers' internals) makes a Scalar that is unreachable as soon as its handle
 * is read, so the GC may finalize it, and the finalizer frees the c10::Scalar, while libtorch is still reading it:
 * "Unknown scalar type", a failed toDouble check, or SIGSEGV, at random, more often under GC pressure.
 *
 * What: this library depends on libLibTorchSharp.so and defines only THSTorch_dispose_scalar; Engine points TorchSharp's
 * "LibTorchSharp" imports here, so every other symbol resolves to the real library (dlsym searches a library's
 * dependencies) and only the release of a Scalar changes: it is queued and freed by the real function once it has
 * waited at least DELAY_NS (or when the queue is full), long after any native call that read its handle has started.
 * A c10::Scalar is 32 bytes; the queue holds at most CAPACITY of them (32 MiB), usually far fewer (one second's worth).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stddef.h>
#include <time.h>

#define CAPACITY (1u << 20)
#define DELAY_NS 1000000000LL
#define BATCH 64

typedef void (*dispose_fn)(void *);

static dispose_fn real_dispose;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *queued[CAPACITY];
static int64_t queued_at[CAPACITY];
static size_t head, count;
static uint64_t total;

static void init(void)
{
    void *lib = dlopen("libLibTorchSharp.so", RTLD_NOW | RTLD_NOLOAD);
    if (lib)
        real_dispose = (dispose_fn)dlsym(lib, "THSTorch_dispose_scalar");
    if (!real_dispose)
        real_dispose = (dispose_fn)dlsym(RTLD_NEXT, "THSTorch_dispose_scalar");
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void THSTorch_dispose_scalar(void *scalar)
{
    pthread_once(&once, init);
    if (!real_dispose || !scalar)
        return; /* not reachable when loaded as built: better a 32-byte leak than a free of a live Scalar */
    int64_t t = now_ns();
    void *release[BATCH];
    int n = 0;
    pthread_mutex_lock(&lock);
    while (count > 0 && n < BATCH && (count == CAPACITY || t - queued_at[head] >= DELAY_NS)) {
        release[n++] = queued[head];
        head = (head + 1) % CAPACITY;
        count--;
    }
    size_t tail = (head + count) % CAPACITY;
    queued[tail] = scalar;
    queued_at[tail] = t;
    count++;
    total++;
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++)
        real_dispose(release[i]);
}

/* How many Scalar releases went through the queue, and how many wait in it (for the tests). */
uint64_t wf_scalar_release_total(void)
{
    pthread_mutex_lock(&lock);
    uint64_t r = total;
    pthread_mutex_unlock(&lock);
    return r;
}

uint64_t wf_scalar_release_waiting(void)
{
    pthread_mutex_lock(&lock);
    uint64_t r = count;
    pthread_mutex_unlock(&lock);
    return r;
}
