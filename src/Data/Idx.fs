/// The IDX format of MNIST and Fashion-MNIST (LeCun's `*-idx3-ubyte`, `*-idx1-ubyte`), raw or gzip.
///
/// Layout: two zero bytes, a type byte (0x08 = unsigned byte, the only type the image sets use), the number of
/// dimensions, then each dimension as a big-endian int32, then the data in row-major order. Gzip is recognised by its
/// magic bytes (1f 8b), not by the file name.
namespace WeightFlow

open System
open System.IO
open System.IO.Compression
open TorchSharp

/// An IDX array of unsigned bytes: its dimensions and row-major data.
[<NoEquality; NoComparison>]
type IdxArray = { Dims: int[]; Data: byte[] }

/// A read-only stream of one stream followed by another (the two bytes read to recognise gzip, then the rest).
type internal ConcatStream(a: Stream, b: Stream) =
    inherit Stream()
    let mutable first = true
    override _.CanRead = true
    override _.CanSeek = false
    override _.CanWrite = false
    override _.Length = raise (NotSupportedException())
    override _.Position with get () = raise (NotSupportedException()) and set _ = raise (NotSupportedException())
    override _.Flush() = ()
    override _.Seek(_, _) = raise (NotSupportedException())
    override _.SetLength _ = raise (NotSupportedException())
    override _.Write(_, _, _) = raise (NotSupportedException())
    override _.Read(buffer: byte[], offset: int, count: int) =
        if first then
            let k = a.Read(buffer, offset, count)
            if k > 0 then k
            else
                first <- false
                b.Read(buffer, offset, count)
        else b.Read(buffer, offset, count)

[<RequireQualifiedAccess>]
module Idx =
    let private ubyte = 0x08uy

    let private typeName =
        function
        | 0x08uy -> "unsigned byte" | 0x09uy -> "signed byte" | 0x0Buy -> "int16" | 0x0Cuy -> "int32"
        | 0x0Duy -> "float32" | 0x0Euy -> "float64" | b -> $"unknown type 0x%02x{b}"

    /// The most data bytes an IDX file may declare (1 GiB; the full MNIST training images are 47 MB). Bounds what a
    /// header (or a gzip bomb) can make the reader allocate.
    [<Literal>]
    let MaxDataBytes = 1073741824L

    let private readUpTo (s: Stream) (buffer: byte[]) (offset: int) (count: int) =
        let mutable got = 0
        let mutable go = true
        while go && got < count do
            let k = s.Read(buffer, offset + got, count - got)
            if k = 0 then go <- false else got <- got + k
        got

    let private int32BE (b: byte[]) (at: int) =
        (int b[at] <<< 24) ||| (int b[at + 1] <<< 16) ||| (int b[at + 2] <<< 8) ||| int b[at + 3]

    /// Parses an IDX stream (raw or gzip, recognised by its first two bytes); `source` names it in error messages.
    /// Reads the header first and allocates only the declared data size, after checking it against MaxDataBytes and,
    /// for a raw file of known length, against the file's size.
    let private parseStream (source: string) (input: Stream) (rawLength: int64 option) : IdxArray =
        let fail (what: string) : 'a = Check.dataError $"{source}: {what}"
        let first = Array.zeroCreate<byte> 2
        let n0 = readUpTo input first 0 2
        let gzip = n0 = 2 && first[0] = 0x1fuy && first[1] = 0x8buy
        let body : Stream =
            let rest = new MemoryStream(first, 0, n0)
            if gzip then new GZipStream(new ConcatStream(rest, input), CompressionMode.Decompress) :> Stream
            else new ConcatStream(rest, input) :> Stream
        use body = body
        let gzipFail (e: exn) : 'a =
            Check.dataError $"{source}: the gzip stream is corrupt or truncated ({e.Message}). Delete the file and prepare it again (`weightflow data prepare`) or re-download it."
        let read (buffer: byte[]) (offset: int) (count: int) =
            try readUpTo body buffer offset count
            with :? InvalidDataException | :? EndOfStreamException | :? IOException as e -> gzipFail e
        let magic = Array.zeroCreate<byte> 4
        let got = read magic 0 4
        if got < 4 then
            fail $"not an IDX file: {got} byte(s), shorter than the 4-byte magic number."
        if magic[0] <> 0uy || magic[1] <> 0uy then
            fail $"not an IDX file: the magic number starts with 0x%02x{magic[0]} 0x%02x{magic[1]} instead of two zero bytes (is it an image, CSV or some other format?)."
        if magic[2] <> ubyte then
            fail $"IDX data of type {typeName magic[2]}; only unsigned-byte IDX files (type 0x08, as MNIST ships) are supported."
        let ndims = int magic[3]
        if ndims < 1 then fail "IDX header declares 0 dimensions; expected 1 (labels) or 3 (images)."
        let header = 4 + 4 * ndims
        let dimBytes = Array.zeroCreate<byte> (4 * ndims)
        let gotDims = read dimBytes 0 dimBytes.Length
        if gotDims < dimBytes.Length then
            fail $"truncated IDX header: {ndims} dimension(s) need {header} header bytes but the file has {4 + gotDims}."
        let dims = Array.init ndims (fun i -> int32BE dimBytes (4 * i))
        if dims |> Array.exists (fun d -> d < 0) then fail $"IDX header has a negative dimension: %A{dims}."
        let expected =
            if Array.contains 0 dims then 0L
            else
                dims |> Array.fold (fun acc d ->
                    if acc > MaxDataBytes / int64 d then
                        fail $"IDX header declares dimensions %A{dims}, more than the {MaxDataBytes} data bytes WeightFlow reads; the header is corrupt."
                    acc * int64 d) 1L
        match rawLength with
        | Some length when not gzip && length - int64 header < expected ->
            fail $"truncated IDX file: dimensions %A{dims} need {expected} data bytes but only {length - int64 header} follow the header. Delete the file and prepare it again (`weightflow data prepare`)."
        | _ -> ()
        // a raw file was checked against its length above, so its data is allocated at once; a gzip stream's length
        // is only known by decompressing it, so its data grows with what actually arrives (a corrupt header cannot
        // make a small file allocate the declared size)
        let data, actual =
            if not gzip then
                let data = Array.zeroCreate<byte> (int expected)
                data, read data 0 data.Length
            else
                use ms = new MemoryStream()
                let chunk = Array.zeroCreate<byte> 65536
                let mutable remaining = expected
                let mutable go = true
                while go && remaining > 0L do
                    let k = read chunk 0 (int (min remaining 65536L))
                    if k = 0 then go <- false
                    else
                        ms.Write(chunk, 0, k)
                        remaining <- remaining - int64 k
                let d = ms.ToArray()
                d, d.Length
        if int64 actual < expected then
            fail $"truncated IDX file: dimensions %A{dims} need {expected} data bytes but only {actual} follow the header. Delete the file and prepare it again (`weightflow data prepare`)."
        let probe = Array.zeroCreate<byte> 4096
        let mutable trailing = 0L
        let mutable k = read probe 0 probe.Length
        while k > 0 && trailing < 1_000_000L do
            trailing <- trailing + int64 k
            k <- read probe 0 probe.Length
        if trailing > 0L then
            let count = if trailing >= 1_000_000L then "at least 1000000" else string trailing
            fail $"IDX file has {count} unexpected trailing byte(s) after the {expected} data bytes of dimensions %A{dims}; the header does not match the data."
        { Dims = dims; Data = data }

    /// Parses the bytes of an IDX file (gzip or raw); `source` names it in error messages.
    let parse (source: string) (fileBytes: byte[]) : IdxArray =
        use s = new MemoryStream(fileBytes, false)
        parseStream source s (Some fileBytes.LongLength)

    /// Reads an IDX file (gzip or raw) as bytes, checking magic number, type, dimensions and byte count. A file of
    /// another kind (a CSV, a WeightFlow file) is one WeightFlowError WrongKind saying what it is.
    let load (path: string) : IdxArray =
        Check.fileExists path "Check the path, or run `weightflow data prepare` for MNIST and Fashion-MNIST."
        match Storage.detect path with
        | Storage.FileKind.Safetensors _ | Storage.FileKind.Text as k ->
            Check.fail Check.ErrorKind.WrongKind $"{path} is not an IDX data file but {Storage.describe k}. MNIST-format data sets are IDX files (`weightflow data prepare`)."
        | _ -> ()
        use f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 <<< 16)
        parseStream path f (Some f.Length)

    /// An IDX array as a tensor: 1-D arrays are labels (int64 [N]); arrays of 2 or more dimensions are images,
    /// flattened to float32 [N, rows*cols] and scaled from 0..255 to [0, 1].
    let toTensor (a: IdxArray) : Tensor =
        let n = if a.Dims.Length = 0 then 0 else a.Dims[0]
        if a.Dims.Length = 1 then
            use raw = torch.tensor(a.Data, ReadOnlySpan<int64>([| int64 n |]))
            raw.to_type(torch.int64)
        else
            let features = a.Dims[1..] |> Array.fold (*) 1
            use raw = torch.tensor(a.Data, ReadOnlySpan<int64>([| int64 n; int64 features |]))
            use f = raw.to_type(torch.float32)
            f.div(scalar 255.0)

    /// Reads an IDX file: images -> float32 [N, rows*cols] in [0, 1]; labels -> int64 [N].
    let read (path: string) : Tensor = load path |> toTensor

    /// The bytes of an IDX file (uncompressed).
    let encode (a: IdxArray) : byte[] =
        let expected = a.Dims |> Array.fold (fun acc d -> acc * int64 d) 1L
        if a.Dims.Length < 1 || a.Dims.Length > 255 then
            invalidArg "a" $"An IDX array needs 1 to 255 dimensions; got {a.Dims.Length}."
        if expected <> int64 a.Data.Length then
            invalidArg "a" $"IDX dimensions %A{a.Dims} hold {expected} bytes but the data has {a.Data.Length}."
        use s = new MemoryStream()
        s.Write([| 0uy; 0uy; ubyte; byte a.Dims.Length |], 0, 4)
        for d in a.Dims do
            s.Write([| byte (d >>> 24); byte (d >>> 16); byte (d >>> 8); byte d |], 0, 4)
        s.Write(a.Data, 0, a.Data.Length)
        s.ToArray()

    /// Writes an IDX file, gzip-compressed when the path ends in ".gz". The bytes go to a temporary file in the same
    /// folder that is then renamed, so a crash never leaves a half-written file under the final name.
    let write (path: string) (a: IdxArray) =
        let bytes = encode a
        Storage.writeAtomic path (fun file ->
            if path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) then
                use gz = new GZipStream(file, CompressionLevel.Optimal, true)
                gz.Write(bytes, 0, bytes.Length)
            else
                file.Write(bytes, 0, bytes.Length))
