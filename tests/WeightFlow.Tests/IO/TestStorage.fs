module WeightFlow.Tests.TestStorage

open System.IO
open Expecto
open TorchSharp
open WeightFlow

let private tmp () = Path.Combine(Path.GetTempPath(), $"wf-{System.Guid.NewGuid():N}.safetensors")

let private header (json: string) (data: byte[]) =
    let h = System.Text.Encoding.UTF8.GetBytes json
    Array.concat [ System.BitConverter.GetBytes(int64 h.Length); h; data ]

let private expectCorrupt (bytes: byte[]) (fragment: string) =
    let path = tmp ()
    File.WriteAllBytes(path, bytes)
    let e = Expect.throwsC (fun () -> Storage.read path |> ignore) id
    File.Delete path
    Expect.isTrue (match e with Check.WeightFlowError _ -> true | _ -> false) $"typed WeightFlowError, got {e.GetType().Name}"
    Expect.stringContains e.Message fragment "names the problem"

[<Tests>]
let tests =
    testList "Storage" [
        test "tensors of every supported dtype and the metadata round-trip exactly" {
            let path = tmp ()
            use a = torch.randn(3L, 5L)
            use b = torch.arange(7L, dtype = torch.int64)
            use c = torch.tensor([| 1; -2; 3 |])
            use d = torch.randn([| 2L; 2L |], dtype = torch.float64)
            use empty = torch.zeros([| 0L; 5L |])
            Storage.write path (Map.ofList [ "k", "v" ]) [ "a", a; "b", b; "c", c; "d", d; "empty", empty ]
            let s = Storage.read path
            Expect.equal s.Metadata (Map.ofList [ "k", "v" ]) "metadata"
            for name, t in [ "a", a; "b", b; "c", c; "d", d; "empty", empty ] do
                Expect.bitExact (Storage.tensor path s name) t name
            // Data offset is 8-byte aligned (safetensors spec).
            let n = System.BitConverter.ToInt64(File.ReadAllBytes path, 0)
            Expect.equal (n % 8L) 0L "header padded to 8 bytes"
            File.Delete path
        }
        test "tensors larger than the 16 MiB write chunk, and non-contiguous ones, round-trip exactly" {
            // 20 MiB of float32 and 24 MiB of int64 are written in two chunks each; a transposed view is written in
            // its logical (row-major) order
            let path = tmp ()
            use gen = new torch.Generator(3UL)
            use big = torch.randn([| 5L * 1024L * 1024L |], generator = gen)
            use ints = torch.arange(3145728L, dtype = torch.int64)
            use m = torch.randn([| 300L; 7L |], generator = gen)
            use mT = m.t()
            Storage.write path Map.empty [ "big", big; "ints", ints; "transposed", mT ]
            let s = Storage.read path
            Expect.bitExact (Storage.tensor path s "big") big "20 MiB float32"
            Expect.bitExact (Storage.tensor path s "ints") ints "24 MiB int64"
            Expect.bitExact (Storage.tensor path s "transposed") (mT.contiguous()) "transposed view"
            File.Delete path
        }
        test "an existing file is replaced atomically and no temporary file is left" {
            let path = tmp ()
            use a = torch.ones(2L)
            Storage.write path Map.empty [ "a", a ]
            Storage.write path Map.empty [ "a", a * 2.0f ]
            Expect.equal ((Storage.tensor path (Storage.read path) "a").sum().ToSingle()) 4.0f "new content"
            let leftovers = Directory.GetFiles(Path.GetDirectoryName path, Path.GetFileName path + ".*.tmp")
            Expect.isEmpty leftovers "no temp files"
            File.Delete path
        }
        test "missing file" {
            let e = Expect.throwsC (fun () -> Storage.read "/nonexistent/zoo.safetensors" |> ignore) id
            Expect.stringContains e.Message "File not found" "says it is missing"
        }
        test "garbled files give a typed error naming the problem" {
            expectCorrupt [| 1uy; 2uy |] "fewer than the 8-byte"
            expectCorrupt (header "{not json" [||]) "not JSON"
            expectCorrupt (header """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""" (Array.zeroCreate 4)) "data section has 4 bytes"
            expectCorrupt (header """{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""" (Array.zeroCreate 8)) "needs 12 bytes"
            expectCorrupt (header """{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}""" (Array.zeroCreate 8)) "unsupported dtype"
            expectCorrupt (header """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""" (Array.zeroCreate 8)) "cover 4 of 8"
        }
    ]
