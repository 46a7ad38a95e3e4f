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

[<RequireQualifiedAccess>]
module Idx =
    let private ubyte = 0x08uy

    let private typeName =
        function
        | 0x08uy -> "unsigned byte" | 0x09uy -> "signed byte" | 0x0Buy -> "int16" | 0x0Cuy -> "int32"
        | 0x0Duy -> "float32" | 0x0Euy -> "float64" | b -> $"unknown type 0x%02x{b}"

    let private isGzip (bytes: byte[]) = bytes.Length >= 2 && bytes[0] = 0x1fuy && bytes[1] = 0x8buy

    let private gunzip (source: string) (bytes: byte[]) : byte[] =
        try
            use input = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress)
            use output = new MemoryStream()
            input.CopyTo output
            output.ToArray()
        with :? InvalidDataException | :? EndOfStreamException as e ->
            Check.dataError $"{source}: the gzip stream is corrupt or truncated ({e.Message}). Delete the file and prepare it again (`weightflow data prepare`) or re-download it."

    let private int32BE (b: byte[]) (at: int) =
        (int b[at] <<< 24) ||| (int b[at + 1] <<< 16) ||| (int b[at + 2] <<< 8) ||| int b[at + 3]

    /// Parses the bytes of an IDX file (gzip or raw); `source` names it in error messages.
    let parse (source: string) (fileBytes: byte[]) : IdxArray =
        let bytes = if isGzip fileBytes then gunzip source fileBytes else fileBytes
        let fail (what: string) = Check.dataError $"{source}: {what}"
        if bytes.Length < 4 then
            fail $"not an IDX file: {bytes.Length} byte(s), shorter than the 4-byte magic number."
        if bytes[0] <> 0uy || bytes[1] <> 0uy then
            fail $"not an IDX file: the magic number starts with 0x%02x{bytes[0]} 0x%02x{bytes[1]} instead of two zero bytes (is it an image, CSV or some other format?)."
        if bytes[2] <> ubyte then
            fail $"IDX data of type {typeName bytes[2]}; only unsigned-byte IDX files (type 0x08, as MNIST ships) are supported."
        let ndims = int bytes[3]
        if ndims < 1 then fail "IDX header declares 0 dimensions; expected 1 (labels) or 3 (images)."
        let header = 4 + 4 * ndims
        if bytes.Length < header then
            fail $"truncated IDX header: {ndims} dimension(s) need {header} header bytes but the file has {bytes.Length}."
        let dims = Array.init ndims (fun i -> int32BE bytes (4 + 4 * i))
        if dims |> Array.exists (fun d -> d < 0) then fail $"IDX header has a negative dimension: %A{dims}."
        let expected = dims |> Array.fold (fun acc d -> acc * int64 d) 1L
        let actual = int64 (bytes.Length - header)
        if actual < expected then
            fail $"truncated IDX file: dimensions %A{dims} need {expected} data bytes but only {actual} follow the header. Delete the file and prepare it again (`weightflow data prepare`)."
        if actual > expected then
            fail $"IDX file has {actual - expected} unexpected trailing byte(s) after the {expected} data bytes of dimensions %A{dims}; the header does not match the data."
        { Dims = dims; Data = bytes[header..] }

    /// Reads an IDX file (gzip or raw) as bytes, checking magic number, type, dimensions and byte count.
    let load (path: string) : IdxArray =
        Check.fileExists path "Check the path, or run `weightflow data prepare` for MNIST and Fashion-MNIST."
        parse path (File.ReadAllBytes path)

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
        let full = Path.GetFullPath path
        Directory.CreateDirectory(Path.GetDirectoryName full) |> ignore
        let temp = $"{full}.{Guid.NewGuid():N}.tmp"
        try
            do
                use file = File.Create temp
                if full.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) then
                    use gz = new GZipStream(file, CompressionLevel.Optimal)
                    gz.Write(bytes, 0, bytes.Length)
                else
                    file.Write(bytes, 0, bytes.Length)
            File.Move(temp, full, true)
        finally
            if File.Exists temp then File.Delete temp
