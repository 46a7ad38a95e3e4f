/// CPU time of the process and of the calling thread, for cost figures recorded beside wall times.
///
/// Why both: on a shared 2-core machine the wall time says little about a run's cost (README "CPU discipline"), and
/// the process's CPU time stops being one flow's cost once several flows train at once (MainJobConfig.ParallelFlows).
/// A flow that trains with one intra-op thread does all its work on the calling thread (libtorch runs CPU autograd on
/// the caller; the fused attention kernel and the assignment solver split work by `torch.get_num_threads()`), so that
/// thread's CPU time is exactly the flow's cost, whatever trains beside it.
[<RequireQualifiedAccess>]
module WeightFlow.CpuTime

open System
open System.Runtime.InteropServices

[<Struct; StructLayout(LayoutKind.Sequential)>]
type private Timespec = { Seconds: int64; Nanoseconds: int64 }

module private Native =
    [<DllImport("libc", SetLastError = true)>]
    extern int clock_gettime(int clockId, Timespec& ts)

/// Linux's CLOCK_THREAD_CPUTIME_ID (time.h).
let private threadClock = 3

/// The process's CPU seconds (user + system, all threads).
let processSeconds () : float =
    use p = Diagnostics.Process.GetCurrentProcess()
    p.TotalProcessorTime.TotalSeconds

/// The calling thread's CPU seconds (user + system) where the OS reports them (Linux); None elsewhere.
let threadSeconds () : float option =
    if not (OperatingSystem.IsLinux()) || not Environment.Is64BitProcess then None
    else
        let mutable ts = Unchecked.defaultof<Timespec>
        try
            if Native.clock_gettime(threadClock, &ts) = 0 then Some (float ts.Seconds + 1e-9 * float ts.Nanoseconds)
            else None
        with :? DllNotFoundException | :? EntryPointNotFoundException -> None

/// What a CPU-time measurement covers.
type Scope =
    /// The calling thread only: exact for work confined to it (one intra-op thread).
    | Thread
    /// The whole process: exact when nothing else runs; otherwise an upper bound.
    | Process

/// A started measurement: `elapsed` is the CPU seconds since `start`.
type Meter = private { Scope: Scope; Start: float }

/// Starts measuring on the calling thread's clock when `scope` is Thread and the OS has one, else the process's.
let start (scope: Scope) : Meter =
    match scope, threadSeconds () with
    | Thread, Some t -> { Scope = Thread; Start = t }
    | _ -> { Scope = Process; Start = processSeconds () }

/// The scope the meter actually measures (Thread falls back to Process where the OS has no thread clock).
let scope (m: Meter) : Scope = m.Scope

/// CPU seconds since `start`, read on the same clock (a Thread meter must be read on the thread that started it).
let elapsed (m: Meter) : float =
    match m.Scope with
    | Thread -> (threadSeconds () |> Option.defaultWith processSeconds) - m.Start
    | Process -> processSeconds () - m.Start

let scopeName (s: Scope) : string =
    match s with
    | Thread -> "thread"
    | Process -> "process"
