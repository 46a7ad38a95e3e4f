/// Keeps a long training run's resident memory at its working set.
///
/// Why: libtorch allocates each step's activations anew, and with freed memory kept in the process
/// (`Engine.ProcessSettings.tuned`) the next step reuses it without page faults. But glibc cannot give back free memory
/// in the middle of its heap, and over many steps the heap fragments; trimming after every step would fault the
/// working set in again each time. So the guard takes the resident size after the third step as the working set and
/// calls `malloc_trim(0)` only when a later step ends more than 20% above it. `Optim.minimize` runs one per optimizer.
/// The measurements behind these choices are in the README's engineering notes ("Heap guard").
[<RequireQualifiedAccess>]
module WeightFlow.Heap

open System
open System.IO

module private Native =
    [<System.Runtime.InteropServices.DllImport("libc")>]
    extern int malloc_trim(unativeint pad)

/// A guard's state: the working set (0 until measured) and the steps seen.
[<NoEquality; NoComparison>]
type Guard = { mutable WorkingSet: int64; mutable Steps: int }

/// The step whose resident size is the working set (by then the heap has grown to one step's allocations).
let private baselineStep = 3

/// How far above the working set a step may end before the heap is trimmed.
let private growth = 1.2

let guard () : Guard = { WorkingSet = 0L; Steps = 0 }

/// Records the end of a step with resident size `resident`; true when the heap should be trimmed now.
let decide (g: Guard) (resident: int64) : bool =
    g.Steps <- g.Steps + 1
    if g.Steps = baselineStep then g.WorkingSet <- resident
    g.Steps > baselineStep && float resident > growth * float g.WorkingSet

/// This process's resident size in bytes (Linux; 0 elsewhere).
let resident () : int64 =
    try
        let pages = File.ReadAllText("/proc/self/statm").Split(' ')[1] |> int64
        pages * int64 Environment.SystemPageSize
    with _ -> 0L

/// Returns the heap's free pages to the kernel (glibc; a no-op elsewhere).
let release () =
    if OperatingSystem.IsLinux() then
        try Native.malloc_trim 0un |> ignore
        with :? DllNotFoundException | :? EntryPointNotFoundException -> ()

/// Call after each training step, once its tensors are freed.
let afterStep (g: Guard) = if decide g (resident ()) then release ()
