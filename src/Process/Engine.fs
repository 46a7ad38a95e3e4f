/// Loading the libtorch engine and choosing devices.
///
/// TorchSharp 0.107's `libLibTorchSharp.so` was linked against GCC 13's libstdc++ and declares a need for
/// `GLIBCXX_3.4.32` for a single symbol (`std::ios_base_library_init`) that it never relocates. On systems whose
/// libstdc++ predates GCC 13 (Debian 12, Ubuntu 22.04) the dynamic loader refuses the library. Marking that one
/// version need as weak (`VER_FLG_WEAK`) makes a missing version non-fatal; see
/// `notes/torchsharp-on-debian12.md`. We patch only the copy beside the program (never system files or, where a
/// local copy exists, the NuGet cache), only when the system libstdc++ lacks the version, idempotently and atomically.
[<RequireQualifiedAccess>]
module WeightFlow.Engine

open System
open System.IO
open System.Text
open TorchSharp

/// Raised when libtorch cannot be loaded or a device is not available; the message says what to do.
exception EngineError of string
    with override this.Message = this.Data0

[<Literal>]
let private MissingVersion = "GLIBCXX_3.4.32"

[<Literal>]
let private VerFlgWeak = 0x2us

[<Literal>]
let private ShtGnuVerneed = 0x6ffffffeu

let private containsAscii (needle: string) (bytes: byte[]) =
    let pattern = Encoding.ASCII.GetBytes needle
    MemoryExtensions.IndexOf(ReadOnlySpan bytes, ReadOnlySpan pattern) >= 0

/// The system libstdc++ provides GLIBCXX_3.4.32 iff its version-definition strings contain it.
let private systemLibstdcxxHasVersion () =
    [ "/lib/x86_64-linux-gnu/libstdc++.so.6"; "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"
      "/lib/aarch64-linux-gnu/libstdc++.so.6"; "/usr/lib64/libstdc++.so.6"; "/usr/lib/libstdc++.so.6" ]
    |> List.tryFind File.Exists
    |> Option.map (File.ReadAllBytes >> containsAscii MissingVersion)

let private cstring (bytes: byte[]) (offset: int) =
    let e = Array.IndexOf(bytes, 0uy, offset)
    Encoding.ASCII.GetString(bytes, offset, e - offset)

/// Offsets of the `vna_flags` fields of every non-weak `Elf64_Vernaux` named GLIBCXX_3.4.32.
/// Layout (little endian): Elf64_Verneed = vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32;
/// Elf64_Vernaux = vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32.
let internal strongVersionNeeds (elf: byte[]) : int list =
    let isElf64Le = elf.Length > 64 && elf[0] = 0x7fuy && elf[1] = byte 'E' && elf[4] = 2uy && elf[5] = 1uy
    if not isElf64Le then []
    else
        let u16 o = int (BitConverter.ToUInt16(elf, o))
        let u32 o = BitConverter.ToUInt32(elf, o)
        let u64 o = int (BitConverter.ToUInt64(elf, o))
        let shoff, shentsize, shnum = u64 0x28, u16 0x3A, u16 0x3C
        let section i = shoff + i * shentsize
        [ for i in 0 .. shnum - 1 do
            let sh = section i
            if u32 (sh + 4) = ShtGnuVerneed then
                let strtab = u64 (section (int (u32 (sh + 40))) + 24)
                let mutable need = u64 (sh + 24)
                let mutable more = true
                while more do
                    let mutable aux = need + int (u32 (need + 8))
                    for _ in 1 .. u16 (need + 2) do
                        let flagsAt = aux + 4
                        let name = cstring elf (strtab + int (u32 (aux + 8)))
                        if name = MissingVersion && (uint16 (u16 flagsAt) &&& VerFlgWeak) = 0us then yield flagsAt
                        aux <- aux + int (u32 (aux + 12))
                    let next = int (u32 (need + 12))
                    if next = 0 then more <- false else need <- need + next ]

/// Marks the GLIBCXX_3.4.32 need weak in `path` (temp file + rename). Returns true if the file was changed.
let internal patchLibrary (path: string) : bool =
    let elf = File.ReadAllBytes path
    match strongVersionNeeds elf with
    | [] -> false
    | offsets ->
        for o in offsets do
            let flags = BitConverter.ToUInt16(elf, o) ||| VerFlgWeak
            BitConverter.GetBytes(flags).CopyTo(elf, o)
        let tmp = path + $".{Environment.ProcessId}.tmp"
        File.WriteAllBytes(tmp, elf)
        File.Move(tmp, path, true)
        true

module private Native =
    [<System.Runtime.InteropServices.DllImport("libc", CharSet = System.Runtime.InteropServices.CharSet.Ansi)>]
    extern int setenv(string name, string value, int overwrite)

    [<System.Runtime.InteropServices.DllImport("libc")>]
    extern int mallopt(int param, int value)

/// How the sparse edge attention runs on float32 CPU tensors (EdgeAttention.sparse, sparseProjected).
type AttentionKernel =
    /// The fused C kernels (native/, built with gcc beside WeightFlow.Core.dll) where they were built and the CPU has
    /// AVX2/FMA; the torch-operation path elsewhere.
    | Fused
    /// Always the torch-operation path (a reference, or to compare).
    | TorchOperations

/// glibc's allocator policy for the process.
type Allocator =
    /// glibc's defaults (or the host's own MALLOC_* / GLIBC_TUNABLES settings).
    | GlibcDefault
    /// Keep freed memory in the process: allocations below `MmapThreshold` bytes come from the heap, and free memory
    /// at the top of the heap is returned to the kernel only above `TrimThreshold` bytes.
    | KeepFreedMemory of MmapThreshold: int * TrimThreshold: int

/// Process-wide settings a host may ask WeightFlow to apply (`Engine.configureProcess`). Loading the library applies
/// none of them.
type ProcessSettings =
    { /// Spin-waits of libgomp's idle threads before they sleep (GOMP_SPINCOUNT); None keeps libgomp's default.
      OpenMpSpinCount: int option
      Allocator: Allocator
      /// libtorch's intra-op threads; None keeps libtorch's default (the machine's cores).
      Threads: int option
      Attention: AttentionKernel }

[<RequireQualifiedAccess>]
module ProcessSettings =
    /// What a process gets without the call: libgomp's, glibc's and libtorch's defaults, the fused attention kernels.
    let defaults = { OpenMpSpinCount = None; Allocator = GlibcDefault; Threads = None; Attention = Fused }

    /// The measured settings the CLI uses (README, "Engineering notes", says what each was measured to give): a
    /// bounded OpenMP spin (30,000), freed memory kept (mmap threshold 32 MiB, trim threshold 1 GiB), all cores, the
    /// fused kernels. A host's own OMP_WAIT_POLICY / GOMP_SPINCOUNT and MALLOC_* / GLIBC_TUNABLES settings still win.
    let tuned =
        { OpenMpSpinCount = Some 30000; Allocator = KeepFreedMemory(32 <<< 20, 1 <<< 30); Threads = None; Attention = Fused }

    /// A host's two overrides from the environment on top of `s` (the CLI and scripts/_load.fsx read them alike):
    /// WEIGHTFLOW_THREADS=n, libtorch's intra-op threads (unset or empty: `s`'s), and WEIGHTFLOW_FUSED=0, the
    /// torch-operation attention path. A thread count that is not a whole number >= 1 is an Error naming the variable:
    /// ignored, it ran scripts on every core of a shared machine at 6.4x the CPU per step (docs/results/fsi-results.md).
    let withEnvironment (s: ProcessSettings) : Result<ProcessSettings, string> =
        let attention = if Environment.GetEnvironmentVariable "WEIGHTFLOW_FUSED" = "0" then TorchOperations else s.Attention
        match Environment.GetEnvironmentVariable "WEIGHTFLOW_THREADS" with
        | null | "" -> Ok { s with Attention = attention }
        | v ->
            match Int32.TryParse v with
            | true, n when n >= 1 -> Ok { s with Threads = Some n; Attention = attention }
            | _ -> Error $"WEIGHTFLOW_THREADS must be a whole number >= 1 (libtorch's intra-op threads), not '{v}'; unset it to use every core."

let private unset (name: string) = isNull (Environment.GetEnvironmentVariable name)

/// The settings applied by `configureProcess` (the defaults until it is called).
let mutable private applied = ProcessSettings.defaults

/// The settings in effect (`ProcessSettings.defaults` unless the host called `configureProcess`).
let settings () : ProcessSettings = applied

/// The OpenMP wait policy in effect, for benchmark reports: the user's OMP_WAIT_POLICY / GOMP_SPINCOUNT, the spin count
/// `configureProcess` set, or libgomp's default.
let openMpWaitPolicy () : string =
    let get (name: string) = Option.ofObj (Environment.GetEnvironmentVariable name) |> Option.map (fun v -> $"{name}={v}")
    match List.choose get [ "OMP_WAIT_POLICY"; "GOMP_SPINCOUNT" ], applied.OpenMpSpinCount with
    | [], Some n when OperatingSystem.IsLinux() -> $"GOMP_SPINCOUNT={n}"
    | [], _ -> "OpenMP default"
    | set, _ -> String.concat " " set

let private candidateLibraries () =
    let dir = Path.GetDirectoryName(typeof<torch.Tensor>.Assembly.Location)
    [ Path.Combine(dir, "libLibTorchSharp.so")
      Path.Combine(dir, "runtimes", "linux-x64", "native", "libLibTorchSharp.so")
      Path.Combine(dir, "cpu", "libLibTorchSharp.so") ]
    |> List.filter File.Exists

/// Where one of WeightFlow's own native libraries lies: beside WeightFlow.Core.dll (a project reference, the build
/// output) or under runtimes/linux-x64/native there (the NuGet package's runtime assets, as a consuming app gets them).
/// The first existing path, else the path beside the DLL.
let nativeLibrary (file: string) : string =
    let dir = Path.GetDirectoryName(typeof<EngineError>.Assembly.Location)
    let candidates = [ Path.Combine(dir, file); Path.Combine(dir, "runtimes", "linux-x64", "native", file) ]
    candidates |> List.tryFind File.Exists |> Option.defaultValue (List.head candidates)

/// Whether libtorch's own natives (libtorch.so, from the libtorch-cpu-linux-x64 package) are beside TorchSharp.dll or
/// under its runtimes/linux-x64/native folder, where a built application has them. (TorchSharp's own fallback copies
/// unpatched natives from the NuGet cache into cpu/; that folder does not count.) Only used to word the error when
/// loading fails.
let private libtorchBesideProgram () =
    let dir = Path.GetDirectoryName(typeof<torch.Tensor>.Assembly.Location)
    [ dir; Path.Combine(dir, "runtimes", "linux-x64", "native") ]
    |> List.exists (fun d -> File.Exists(Path.Combine(d, "libtorch.so")) || File.Exists(Path.Combine(d, "torch.dll")))

/// The one-line error of a program without libtorch natives (a consumer of the library that references neither the
/// package nor a project that brings it).
let missingNativesMessage =
    // The version the build restored (Directory.Packages.props' LibTorchVersion, recorded in the assembly).
    let version =
        typeof<EngineError>.Assembly.GetCustomAttributes(typeof<System.Reflection.AssemblyMetadataAttribute>, false)
        |> Seq.cast<System.Reflection.AssemblyMetadataAttribute>
        |> Seq.tryFind (fun a -> a.Key = "LibTorchVersion")
        |> Option.map (fun a -> a.Value)
        |> Option.defaultValue "matching TorchSharp's"
    $"WeightFlow could not load libtorch: this program has no libtorch natives. Add them to the application project: dotnet add package libtorch-cpu-linux-x64 --version {version} (CUDA: TorchSharp-cuda-linux)."

/// Handle lifetime. TorchSharp 0.107 hands tensors and Scalars to libtorch as raw handles and does not keep the managed
/// objects alive during the call, so an object nothing references once its handle was read can be finalized, and its
/// native object freed, while libtorch reads it: the Scalar of every implicit conversion (`x * 0.5`, the alpha = 1 of
/// `a + b`, `square()`, `clamp_min(scalar 0.0)`, the optimizers' internals) and a temporary tensor outside any dispose
/// scope. The symptoms are "Unknown scalar type", a failed toDouble check, or SIGSEGV, at random, more often under GC
/// pressure (parallel tests, long trainings); README, "Engineering notes", has the evidence. Call sites cannot be fixed
/// for TorchSharp's own temporaries, so the fix is at the release: native/handle_release.c (built with gcc beside
/// WeightFlow.Core.dll) defines only THSTorch_dispose_scalar and THSTensor_dispose and depends on libLibTorchSharp.so;
/// TorchSharp's "LibTorchSharp" imports are pointed at it, so every other function is the real one, and a release made
/// by the finalizer waits one second before the real free. Explicit disposal (`use`, scopes) frees at once. Without
/// gcc nothing is routed (the race stays; the build says so).
let releaseLibrary () = nativeLibrary "libweightflow_release.so"

// The release library's own functions, bound by address (a DllImport would depend on the host's probing paths, e.g.
// in F# Interactive).
type private VoidFn = delegate of unit -> unit
type private IntFn = delegate of unit -> int

/// A finalizer that tells the release library which thread is the finalizer thread.
type private FinalizerProbe(mark: VoidFn) =
    override _.Finalize() = mark.Invoke()

[<System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)>]
let private dropProbe (mark: VoidFn) = FinalizerProbe mark |> ignore

let mutable private keepMark : VoidFn = null

/// Whether releases by the finalizer are deferred in this process (set once, when libtorch is loaded).
let mutable private releaseRouted = false

/// Whether TorchSharp's finalizer releases are deferred in this process (see `releaseLibrary`).
let releaseDeferred () = releaseRouted

let private routeRelease () =
    let path = releaseLibrary ()
    // Loaded first: it depends on libLibTorchSharp.so and libtorch, so without the natives it does not load and
    // nothing is routed (loading libtorch then fails with `missingNativesMessage`).
    let mutable loadedHandle = nativeint 0
    if OperatingSystem.IsLinux() && File.Exists path && System.Runtime.InteropServices.NativeLibrary.TryLoad(path, &loadedHandle) then
        let handle = lazy loadedHandle
        let routed =
            try
                System.Runtime.InteropServices.NativeLibrary.SetDllImportResolver(typeof<torch.Tensor>.Assembly, fun name _ _ ->
                    if name = "LibTorchSharp" then handle.Force() else nativeint 0)
                true
            with :? InvalidOperationException -> false // the host set its own resolver for TorchSharp: keep it (and the race)
        if routed then
            let export (name: string) = System.Runtime.InteropServices.NativeLibrary.GetExport(handle.Force(), name)
            let mark = System.Runtime.InteropServices.Marshal.GetDelegateForFunctionPointer(export "wf_release_mark_finalizer_thread", typeof<VoidFn>) :?> VoidFn
            let known = System.Runtime.InteropServices.Marshal.GetDelegateForFunctionPointer(export "wf_release_finalizer_known", typeof<IntFn>) :?> IntFn
            keepMark <- mark
            let mutable tries = 0
            while known.Invoke() = 0 && tries < 5 do
                dropProbe mark
                GC.Collect()
                GC.WaitForPendingFinalizers()
                tries <- tries + 1
            releaseRouted <- true

let private loaded = lazy (
    if OperatingSystem.IsLinux() && systemLibstdcxxHasVersion () <> Some true then
        for lib in candidateLibraries () do
            try patchLibrary lib |> ignore
            with :? IOException | :? UnauthorizedAccessException as e ->
                raise (EngineError $"WeightFlow could not patch {lib} so that it loads with this system's libstdc++ ({e.Message}). Make the build output writable, or rebuild the project (dotnet build) so a fresh copy is made.")
    // In F# Interactive nothing maps TorchSharp's native dependency to runtimes/linux-x64/native, and TorchSharp
    // would copy unpatched natives from the NuGet cache into a cpu/ folder. Loading the (patched) local copy by
    // full path first makes TorchSharp's by-name load find it (same soname); in an app it is the same file anyway.
    let local = Path.Combine(Path.GetDirectoryName(typeof<torch.Tensor>.Assembly.Location), "runtimes", "linux-x64", "native", "libLibTorchSharp.so")
    if OperatingSystem.IsLinux() && File.Exists local then
        System.Runtime.InteropServices.NativeLibrary.TryLoad local |> ignore
    routeRelease ()
    try
        torch.InitializeDeviceType DeviceType.CPU
    with e ->
        if OperatingSystem.IsLinux() && not (libtorchBesideProgram ()) then raise (EngineError missingNativesMessage)
        let root = match e.InnerException with null -> e.Message | inner -> inner.Message
        let firstLine = root.Split('\n') |> Array.head
        raise (EngineError $"libtorch (TorchSharp {typeof<torch.Tensor>.Assembly.GetName().Version}) failed to load: {firstLine}. On Linux it needs glibc >= 2.28 and the libtorch-cpu-linux-x64 natives beside the program; rebuild with `dotnet build` and see notes/torchsharp-on-debian12.md."))

/// Makes sure libtorch is loaded (patching the local native library first where this system needs it). Idempotent
/// and thread-safe; every entry point (CLI, tests, facade, scripts) calls it before any tensor work. It changes no
/// process-wide setting: that is `configureProcess`, which a host calls if it wants to.
let ensureLoaded () = loaded.Force()

/// Applies process-wide settings and loads libtorch: the CLI calls it with `ProcessSettings.tuned`, and the facade and
/// `scripts/_load.fsx` expose it; a library user that never calls it keeps its environment and allocator as they were.
/// Call it before any tensor work: libgomp reads GOMP_SPINCOUNT once, when libtorch starts its first parallel region,
/// so a spin count asked for after libtorch was loaded cannot take effect and raises InvalidOperationException.
/// - OpenMpSpinCount: set in the native environment (setenv: .NET's Environment.SetEnvironmentVariable does not reach
///   native code on Unix) unless the host set OMP_WAIT_POLICY or GOMP_SPINCOUNT itself.
/// - Allocator: glibc `mallopt` (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD) unless the host set MALLOC_MMAP_THRESHOLD_,
///   MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES; nothing on other C libraries.
/// - Threads: torch.set_num_threads. Attention: read by EdgeAttention on every call.
let configureProcess (s: ProcessSettings) =
    if s.Threads |> Option.exists (fun n -> n < 1) then invalidArg "Threads" $"Threads must be at least 1; got {s.Threads}."
    match s.OpenMpSpinCount with
    | Some n when OperatingSystem.IsLinux() && unset "OMP_WAIT_POLICY" && unset "GOMP_SPINCOUNT" ->
        if loaded.IsValueCreated then
            invalidOp "Engine.configureProcess must run before libtorch is loaded (before any tensor work): libgomp reads the OpenMP spin count only once. Call it first in your program, or pass OpenMpSpinCount = None."
        Native.setenv("GOMP_SPINCOUNT", string n, 0) |> ignore
    | _ -> ()
    match s.Allocator with
    | KeepFreedMemory(mmap, trim) when OperatingSystem.IsLinux() && unset "MALLOC_MMAP_THRESHOLD_" && unset "MALLOC_TRIM_THRESHOLD_" && unset "GLIBC_TUNABLES" ->
        let M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        try
            Native.mallopt(M_MMAP_THRESHOLD, mmap) |> ignore
            Native.mallopt(M_TRIM_THRESHOLD, trim) |> ignore
        with :? DllNotFoundException | :? EntryPointNotFoundException -> () // not glibc (e.g. musl): nothing to tune
    | _ -> ()
    ensureLoaded ()
    s.Threads |> Option.iter torch.set_num_threads
    applied <- s

/// The compute device. CPU is the default everywhere; CUDA needs a build with `-p:WeightFlowCuda=true`.
let device (name: string) : torch.Device =
    ensureLoaded ()
    match name.Trim().ToLowerInvariant() with
    | "cpu" -> torch.CPU
    | n when n = "cuda" || RegularExpressions.Regex.IsMatch(n, "^cuda:[0-9]+$") ->
        if torch.cuda.is_available () then torch.Device n
        else raise (EngineError $"Device '{name}' was requested but this build has no CUDA backend (or no GPU is visible). Use --device cpu, or build with `dotnet build -p:WeightFlowCuda=true` against a registry that serves TorchSharp-cuda-linux.")
    | _ -> invalidArg "device" $"Unknown device '{name}'. Use 'cpu' or 'cuda[:N]'."
