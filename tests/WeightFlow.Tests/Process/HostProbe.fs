/// A child process that loads WeightFlow the way a host application would and reports the process-wide settings
/// WeightFlow could change: the native environment's GOMP_SPINCOUNT and glibc's mmap threshold (observed: whether a
/// 31 MiB malloc is served by mmap, as under glibc's default threshold (128 KiB, rising to at most 32 MiB as mapped blocks are freed), or by the heap, as after mallopt(M_MMAP_THRESHOLD, 32 MiB)).
/// `TestEngine` runs it as `WeightFlow.Tests --host-probe load|configure`.
module WeightFlow.Tests.HostProbe

open System
open System.Runtime.InteropServices
open TorchSharp
open WeightFlow

[<Struct; StructLayout(LayoutKind.Sequential)>]
type MallInfo2 =
    val Arena: unativeint
    val Ordblks: unativeint
    val Smblks: unativeint
    val Hblks: unativeint
    val Hblkhd: unativeint
    val Usmblks: unativeint
    val Fsmblks: unativeint
    val Uordblks: unativeint
    val Fordblks: unativeint
    val Keepcost: unativeint

module private Native =
    [<DllImport("libc")>]
    extern nativeint getenv(string name)

    [<DllImport("libc")>]
    extern MallInfo2 mallinfo2()

    [<DllImport("libc")>]
    extern nativeint malloc(unativeint size)


/// GOMP_SPINCOUNT as native code sees it ("unset" when absent).
let spinCount () =
    match Native.getenv "GOMP_SPINCOUNT" with
    | p when p = 0n -> "unset"
    | p -> Marshal.PtrToStringAnsi p

/// Whether glibc serves a 31 MiB allocation with mmap (its mmapped bytes grow while the block is held). The block is
/// never freed: freeing a mapped block raises glibc's dynamic threshold to its size, which would hide the next probe's
/// answer. It is never touched either, so it costs address space only.
let largeAllocationIsMapped () =
    let before = Native.mallinfo2().Hblkhd
    Native.malloc(31un <<< 20) |> ignore
    Native.mallinfo2().Hblkhd > before

let private report (phase: string) =
    printfn $"{phase} GOMP_SPINCOUNT={spinCount ()} mmap31MiB={largeAllocationIsMapped ()}"

/// `load`: load the library and compute, as an application that only uses it; `configure`: make the explicit call.
let run (mode: string) : int =
    report "before"
    match mode with
    | "load" ->
        Engine.ensureLoaded ()
        use x = torch.ones(1000L, 1000L)
        use y = x.matmul(x)
        use z = Mlp.forward (Layout.parse "3-4-2") (torch.zeros(2L, int64 (Layout.paramCount (Layout.parse "3-4-2")))) (torch.ones(2L, 5L, 3L))
        ()
    | _ -> Engine.configureProcess Engine.ProcessSettings.tuned
    report "after"
    0
