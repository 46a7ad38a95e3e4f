module WeightFlow.Tests.TestCpuTime

open System.Threading
open Expecto
open WeightFlow

/// Spins on the calling thread until its own CPU clock has advanced by `seconds` (or 20 s of wall time pass, so a
/// broken clock fails the test instead of hanging it).
let private spin (seconds: float) =
    let m = CpuTime.start CpuTime.Thread
    let sw = System.Diagnostics.Stopwatch.StartNew()
    let mutable x = 0.0
    while CpuTime.elapsed m < seconds && sw.Elapsed.TotalSeconds < 20.0 do
        for i in 1 .. 10000 do x <- x + sqrt (float i)
    x

[<Tests>]
let tests =
    testList "CpuTime" [
        test "on Linux the thread clock counts this thread's work and not another thread's" {
            if System.OperatingSystem.IsLinux() then
                let m = CpuTime.start CpuTime.Thread
                Expect.equal (CpuTime.scope m) CpuTime.Thread "Linux has a thread clock"
                let p = CpuTime.start CpuTime.Process
                spin 0.2 |> ignore
                let own = CpuTime.elapsed m
                Expect.isGreaterThanOrEqual own 0.2 "0.2 s of work on this thread"
                // the process's clock includes this thread's work (the 10 ms allow for the clocks' tick granularity)
                Expect.isGreaterThanOrEqual (CpuTime.elapsed p) (own - 0.01) "process ≥ thread"
                // while this thread sleeps and another spins 0.3 s, this thread's clock barely moves; the 0.05 s bound
                // is far above a sleeping thread's few microseconds and far below the other thread's 0.3 s
                let waiting = CpuTime.start CpuTime.Thread
                let other = Thread(fun () -> spin 0.3 |> ignore)
                other.Start()
                other.Join()
                Expect.isLessThan (CpuTime.elapsed waiting) 0.05 "another thread's work is not counted"
        }

        test "the process scope is always available and monotone" {
            let m = CpuTime.start CpuTime.Process
            Expect.equal (CpuTime.scope m) CpuTime.Process "process scope"
            Expect.isGreaterThanOrEqual (CpuTime.elapsed m) 0.0 "monotone"
            Expect.equal (CpuTime.scopeName CpuTime.Thread, CpuTime.scopeName CpuTime.Process) ("thread", "process") "names"
        }
    ]
