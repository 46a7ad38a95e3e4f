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

/// libgomp's idle threads spin-wait for the next parallel region (by default ~300,000 spins) before sleeping. With
/// more runnable threads than cores (a shared machine) the spinning burns whole time slices: 21 epochs of the UCI zoo
/// took 48-73 s instead of 2-5 s on a loaded 2-core machine (measured). Never spinning (OMP_WAIT_POLICY=PASSIVE) fixes
/// that but costs ~20% on a quiet machine for the velocity model's many small ops (sparse RT step 1.2 s vs 1.0 s). A
/// short spin is the measured compromise: GOMP_SPINCOUNT=30000 (quiet: RT step 0.95-1.10 s; 3 busy loops on 2 cores:
/// the 21-epoch zoo in ~5 s). It must be in the native environment before libgomp loads, and .NET's
/// Environment.SetEnvironmentVariable does not reach it on Unix, hence setenv. A user's own setting wins.
let private boundOpenMpSpinning () =
    let unset (name: string) = isNull (Environment.GetEnvironmentVariable name)
    if OperatingSystem.IsLinux() && unset "OMP_WAIT_POLICY" && unset "GOMP_SPINCOUNT" then
        Native.setenv("GOMP_SPINCOUNT", "30000", 0) |> ignore

/// The OpenMP wait policy in effect, for benchmark reports: the user's OMP_WAIT_POLICY / GOMP_SPINCOUNT, or the
/// bounded spin set here.
let openMpWaitPolicy () : string =
    let get (name: string) = Option.ofObj (Environment.GetEnvironmentVariable name) |> Option.map (fun v -> $"{name}={v}")
    match List.choose get [ "OMP_WAIT_POLICY"; "GOMP_SPINCOUNT" ] with
    | [] when OperatingSystem.IsLinux() -> "GOMP_SPINCOUNT=30000"
    | [] -> "OpenMP default"
    | set -> String.concat " " set

/// glibc serves allocations above its mmap threshold (128 KiB, adapting up to 32 MiB) with fresh mmaps and returns
/// them with munmap when freed, so large tensors are page-faulted in again (zeroed 4 KiB at a time) at every training
/// step, and free memory at the top of the heap is trimmed back to the kernel. libtorch allocates each step's
/// activations anew. A fixed mmap threshold of 32 MiB (glibc's bound for the adaptive one) and a trim threshold of
/// 1 GiB keep freed memory in the process: a sparse MNIST velocity-model run (`WEIGHTFLOW_PROFILE=mnist
/// WEIGHTFLOW_THREADS=1 weightflow bench model`, 18 steps) went from 1.0-1.08 M minor page faults and 3.2-3.5 s of
/// system time to 0.42-0.45 M and 1.5 s, and its training step from 1.48-1.63 s to 1.34-1.46 s (measured,
/// interleaved runs). The cost is freed memory kept for reuse (up to 1 GiB at the top of the heap); tensors above
/// 32 MiB (the dense model's pair tensors) are still mapped one by one, and a 256 MiB threshold made the dense UCI
/// bench keep 6.4 GB resident instead of 3.5 GB. The user's MALLOC_* or GLIBC_TUNABLES settings win.
let private keepFreedMemory () =
    let unset (name: string) = isNull (Environment.GetEnvironmentVariable name)
    if OperatingSystem.IsLinux() && unset "MALLOC_MMAP_THRESHOLD_" && unset "MALLOC_TRIM_THRESHOLD_" && unset "GLIBC_TUNABLES" then
        let M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        try
            Native.mallopt(M_MMAP_THRESHOLD, 32 <<< 20) |> ignore
            Native.mallopt(M_TRIM_THRESHOLD, 1 <<< 30) |> ignore
        with :? DllNotFoundException | :? EntryPointNotFoundException -> () // not glibc (e.g. musl): nothing to tune

let private candidateLibraries () =
    let dir = Path.GetDirectoryName(typeof<torch.Tensor>.Assembly.Location)
    [ Path.Combine(dir, "libLibTorchSharp.so")
      Path.Combine(dir, "runtimes", "linux-x64", "native", "libLibTorchSharp.so")
      Path.Combine(dir, "cpu", "libLibTorchSharp.so") ]
    |> List.filter File.Exists

let private loaded = lazy (
    boundOpenMpSpinning ()
    keepFreedMemory ()
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
    try
        torch.InitializeDeviceType DeviceType.CPU
        // Intra-op threads: all cores unless WEIGHTFLOW_THREADS says otherwise (useful on a shared machine, where
        // OpenMP threads that spin-wait for busy cores slow everything down).
        let threads =
            match Int32.TryParse(Environment.GetEnvironmentVariable "WEIGHTFLOW_THREADS") with
            | true, n when n >= 1 -> n
            | _ -> max 1 Environment.ProcessorCount
        torch.set_num_threads threads
    with e ->
        let root = match e.InnerException with null -> e.Message | inner -> inner.Message
        let firstLine = root.Split('\n') |> Array.head
        raise (EngineError $"libtorch (TorchSharp {typeof<torch.Tensor>.Assembly.GetName().Version}) failed to load: {firstLine}. On Linux it needs glibc >= 2.28 and the libtorch-cpu-linux-x64 natives beside the program; rebuild with `dotnet build` and see notes/torchsharp-on-debian12.md."))

/// Makes sure libtorch is loaded (patching the local native library first where this system needs it).
/// Idempotent and thread-safe; every entry point (CLI, tests, facade, scripts) calls it before any tensor work.
let ensureLoaded () = loaded.Force()

/// The compute device. CPU is the default everywhere; CUDA needs a build with `-p:WeightFlowCuda=true`.
let device (name: string) : torch.Device =
    ensureLoaded ()
    match name.Trim().ToLowerInvariant() with
    | "cpu" -> torch.CPU
    | n when n.StartsWith "cuda" ->
        if torch.cuda.is_available () then torch.Device n
        else raise (EngineError $"Device '{name}' was requested but this build has no CUDA backend (or no GPU is visible). Use --device cpu, or build with `dotnet build -p:WeightFlowCuda=true` against a registry that serves TorchSharp-cuda-linux.")
    | _ -> invalidArg "device" $"Unknown device '{name}'. Use 'cpu' or 'cuda[:N]'."
