/* Deferred release of TorchSharp handles freed by the .NET finalizer (see Engine.fs, "Handle lifetime").
 *
 * Why: TorchSharp 0.107 passes tensors and Scalars to libtorch as raw handles (`THSTensor_mul_scalar(Handle,
 * s.Handle)`) and never keeps the managed objects alive across the call (no GC.KeepAlive). An object that nothing
 * references after its handle was read (the Scalar of every implicit conversion: `x * 0.5`, the alpha = 1 of `a + b`,
 * `square()`, the optimizers' internals; a temporary tensor outside any dispose scope) may then be finalized, and its
 * native object freed, while libtorch still reads it: "Unknown scalar type", a failed toDouble check, or SIGSEGV, at
 * random, more often under GC pressure.
 *
 * What: this library depends on libLibTorchSharp.so and defines only THSTorch_dispose_scalar and THSTensor_dispose;
 * Engine points TorchSharp's "LibTorchSharp" imports here, so every other symbol resolves to the real library (dlsym
 * searches a library's dependencies). A release made on the finalizer thread (Engine tells us which thread that is)
 * is queued and done by the real function once it has waited at least DELAY_NS (or when the queue is full), long
 * after any native call that read the handle has started; an explicit Dispose (a `use`, a dispose scope) is done at
 * once, so memory use does not change. Until the finalizer thread is known every Scalar release is queued (32 bytes).
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

typedef void (*release_fn)(void *);

static release_fn real_scalar, real_tensor;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t finalizer;
static int finalizer_known;
static struct { void *handle; release_fn release; int64_t at; } queued[CAPACITY];
static size_t head, count;
static uint64_t total;

static release_fn real(const char *name)
{
    release_fn f = NULL;
    void *lib = dlopen("libLibTorchSharp.so", RTLD_NOW | RTLD_NOLOAD);
    if (lib)
        f = (release_fn)dlsym(lib, name);
    if (!f)
        f = (release_fn)dlsym(RTLD_NEXT, name);
    return f;
}

static void init(void)
{
    real_scalar = real("THSTorch_dispose_scalar");
    real_tensor = real("THSTensor_dispose");
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void defer(void *handle, release_fn release)
{
    int64_t t = now_ns();
    void *due[BATCH];
    release_fn how[BATCH];
    int n = 0;
    pthread_mutex_lock(&lock);
    while (count > 0 && n < BATCH && (count == CAPACITY || t - queued[head].at >= DELAY_NS)) {
        due[n] = queued[head].handle;
        how[n++] = queued[head].release;
        head = (head + 1) % CAPACITY;
        count--;
    }
    size_t tail = (head + count) % CAPACITY;
    queued[tail].handle = handle;
    queued[tail].release = release;
    queued[tail].at = t;
    count++;
    total++;
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++)
        how[i](due[i]);
}

static int on_finalizer(void)
{
    return __atomic_load_n(&finalizer_known, __ATOMIC_ACQUIRE) && pthread_equal(pthread_self(), finalizer);
}

void THSTorch_dispose_scalar(void *scalar)
{
    pthread_once(&once, init);
    if (!real_scalar || !scalar)
        return; /* not reachable when loaded as built: better a 32-byte leak than a free of a live Scalar */
    if (on_finalizer() || !__atomic_load_n(&finalizer_known, __ATOMIC_ACQUIRE))
        defer(scalar, real_scalar);
    else
        real_scalar(scalar);
}

void THSTensor_dispose(void *tensor)
{
    pthread_once(&once, init);
    if (!real_tensor || !tensor)
        return;
    if (on_finalizer())
        defer(tensor, real_tensor);
    else
        real_tensor(tensor);
}

/* Called by Engine from a finalizer, so that releases on the finalizer thread are recognized. */
void wf_release_mark_finalizer_thread(void)
{
    finalizer = pthread_self();
    __atomic_store_n(&finalizer_known, 1, __ATOMIC_RELEASE);
}

int wf_release_finalizer_known(void) { return __atomic_load_n(&finalizer_known, __ATOMIC_ACQUIRE); }

/* How many releases were deferred, and how many wait in the queue (for the tests). */
uint64_t wf_release_deferred_total(void)
{
    pthread_mutex_lock(&lock);
    uint64_t r = total;
    pthread_mutex_unlock(&lock);
    return r;
}

uint64_t wf_release_waiting(void)
{
    pthread_mutex_lock(&lock);
    uint64_t r = count;
    pthread_mutex_unlock(&lock);
    return r;
}
