module WeightFlow.Tests.TestEngine

open Expecto
open TorchSharp
open WeightFlow

module private Release =
    [<System.Runtime.InteropServices.DllImport("weightflow_release")>]
    extern uint64 wf_release_deferred_total()

    [<System.Runtime.InteropServices.DllImport("weightflow_release")>]
    extern uint64 wf_release_waiting()

    [<System.Runtime.InteropServices.DllImport("weightflow_release")>]
    extern int wf_release_finalizer_known()

[<System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)>]
let private dropped () =
    // a Scalar and a tensor nobody disposes: the finalizer releases them
    let s = (0.5).ToScalar()
    let t = torch.ones([| 3L |])
    ignore (s, t)

/// A minimal ELF64 with one .gnu.version_r entry needing GLIBCXX_3.4.32 (and one other version), built by hand.
let private syntheticElf (weak: bool) =
    let strtab = System.Text.Encoding.ASCII.GetBytes "\000libstdc++.so.6\000GLIBCXX_3.4.32\000GLIBCXX_3.4\000"
    let nameFile, nameV32, nameV = 1, 16, 31
    let verneed = Array.zeroCreate<byte> (16 + 32)
    let put16 (a: byte[]) (o: int) (v: int) = System.BitConverter.GetBytes(uint16 v).CopyTo(a, o)
    let put32 (a: byte[]) (o: int) (v: int) = System.BitConverter.GetBytes(uint32 v).CopyTo(a, o)
    let put64 (a: byte[]) (o: int) (v: int) = System.BitConverter.GetBytes(uint64 v).CopyTo(a, o)
    put16 verneed 0 1; put16 verneed 2 2; put32 verneed 4 nameFile; put32 verneed 8 16; put32 verneed 12 0
    // aux 1: GLIBCXX_3.4 (strong), aux 2: GLIBCXX_3.4.32
    put32 verneed 16 0; put16 verneed 20 0; put16 verneed 22 2; put32 verneed 24 nameV; put32 verneed 28 16
    put32 verneed 32 0; put16 verneed 36 (if weak then 2 else 0); put16 verneed 38 3; put32 verneed 40 nameV32; put32 verneed 44 0
    let dataOff = 64
    let strOff = dataOff + verneed.Length
    let shoff = strOff + strtab.Length
    let elf = Array.zeroCreate<byte> (shoff + 3 * 64)
    elf[0] <- 0x7fuy; elf[1] <- byte 'E'; elf[2] <- byte 'L'; elf[3] <- byte 'F'; elf[4] <- 2uy; elf[5] <- 1uy
    put64 elf 0x28 shoff; put16 elf 0x3A 64; put16 elf 0x3C 3
    verneed.CopyTo(elf, dataOff); strtab.CopyTo(elf, strOff)
    // section 1: verneed (type 0x6ffffffe, link 2); section 2: strtab
    let s1, s2 = shoff + 64, shoff + 128
    System.BitConverter.GetBytes(0x6ffffffeu).CopyTo(elf, s1 + 4); put64 elf (s1 + 24) dataOff; put64 elf (s1 + 32) verneed.Length; put32 elf (s1 + 40) 2
    put32 elf (s2 + 4) 3; put64 elf (s2 + 24) strOff; put64 elf (s2 + 32) strtab.Length
    elf

/// Runs this test program as `--host-probe mode` in a fresh process whose environment has no OpenMP or glibc
/// allocator settings, and returns its report lines.
let private probe (mode: string) =
    let exe = System.Environment.ProcessPath
    let psi =
        if System.IO.Path.GetFileNameWithoutExtension exe = "dotnet" then
            System.Diagnostics.ProcessStartInfo(exe, [| typeof<HostProbe.MallInfo2>.Assembly.Location; "--host-probe"; mode |])
        else System.Diagnostics.ProcessStartInfo(exe, [| "--host-probe"; mode |])
    psi.RedirectStandardOutput <- true
    psi.UseShellExecute <- false
    for name in [ "GOMP_SPINCOUNT"; "OMP_WAIT_POLICY"; "MALLOC_MMAP_THRESHOLD_"; "MALLOC_TRIM_THRESHOLD_"; "GLIBC_TUNABLES" ] do
        psi.Environment.Remove name |> ignore
    use p = System.Diagnostics.Process.Start psi
    let out = p.StandardOutput.ReadToEnd()
    p.WaitForExit()
    Expect.equal p.ExitCode 0 $"the probe ran: {out}"
    out.Split('\n', System.StringSplitOptions.RemoveEmptyEntries) |> List.ofArray

[<Tests>]
let hostTests =
    testList "Engine host" [
        test "loading the library and computing leaves the environment and the allocator as the host had them" {
            if System.OperatingSystem.IsLinux() then
                Expect.equal (probe "load")
                    [ "before GOMP_SPINCOUNT=unset mmap31MiB=True"; "after GOMP_SPINCOUNT=unset mmap31MiB=True" ] "unchanged"
        }
        test "Engine.configureProcess tuned sets the spin count and keeps 31 MiB blocks on the heap" {
            if System.OperatingSystem.IsLinux() then
                Expect.equal (probe "configure")
                    [ "before GOMP_SPINCOUNT=unset mmap31MiB=True"; "after GOMP_SPINCOUNT=30000 mmap31MiB=False" ] "changed by the call"
        }
    ]

[<Tests>]
let tests =
    testList "Engine" [
        test "the native-library patch finds exactly the strong GLIBCXX_3.4.32 need and is idempotent" {
            let elf = syntheticElf false
            let found = Engine.strongVersionNeeds elf
            Expect.equal found.Length 1 "one strong need of GLIBCXX_3.4.32"
            let path = System.IO.Path.GetTempFileName()
            System.IO.File.WriteAllBytes(path, elf)
            Expect.isTrue (Engine.patchLibrary path) "first patch changes the file"
            let patched = System.IO.File.ReadAllBytes path
            Expect.isEmpty (Engine.strongVersionNeeds patched) "no strong need left"
            Expect.equal patched (syntheticElf true) "only the VER_FLG_WEAK bit changed"
            Expect.isFalse (Engine.patchLibrary path) "second patch changes nothing"
            System.IO.File.Delete path
        }
        test "libtorch is loaded and computes" {
            use x = torch.arange(4L, dtype = torch.float32)
            Expect.equal ((x * x).sum().ToDouble()) 14.0 "0+1+4+9"
        }
        test "asking for CUDA without a CUDA backend gives a clear error" {
            if not (torch.cuda.is_available ()) then
                let e = Expect.throwsC (fun () -> Engine.device "cuda" |> ignore) id
                Expect.stringContains e.Message "WeightFlowCuda" "the message names the build property"
        }
        test "a device name that is not cpu, cuda or cuda:N is an option error, not a missing CUDA backend" {
            for bad in [ "cuda:abc"; "cudax"; "cuda:"; "gpu" ] do
                let e = Expect.throwsC (fun () -> Engine.device bad |> ignore) id
                Expect.isTrue (e :? System.ArgumentException) $"{bad}: an argument error (CLI exit 2), got {e.GetType().Name}"
                Expect.stringContains e.Message "cuda[:N]" $"{bad}: names the accepted forms"
        }
        test "releases by the finalizer are deferred (a finalized Scalar or tensor is not freed while libtorch reads it)" {
            Expect.isTrue (Engine.releaseDeferred ()) "the deferred-release library was built and routed (needs gcc at build time)"
            Expect.equal (Release.wf_release_finalizer_known ()) 1 "the finalizer thread is known"
            let before = Release.wf_release_deferred_total ()
            dropped ()
            System.GC.Collect()
            System.GC.WaitForPendingFinalizers()
            // other tests release objects in parallel, so only a lower bound can be checked
            Expect.isGreaterThanOrEqual (Release.wf_release_deferred_total () - before) 2UL "the finalized Scalar and tensor went through the queue"
            Expect.isGreaterThan (Release.wf_release_waiting ()) 0UL "they wait before they are freed"
            use x = torch.ones([| 3L |], dtype = torch.float64)
            use y = x * 0.25
            Expect.equal (y.sum().ToDouble()) 0.75 "values are unchanged"
        }
        test "same seed, same numbers on CPU" {
            use g1 = Scope.Rng.create 42L
            use g2 = Scope.Rng.create 42L
            use a = torch.randn([| 5L |], generator = g1)
            use b = torch.randn([| 5L |], generator = g2)
            Expect.isTrue (T.equal a b) "identical draws"
        }
    ]
