/// Aligning a zoo to one reference network (thesis §4.3, §7.2): the choice of method as a union, the reference, and
/// the chunked re-basin of every checkpoint.
namespace WeightFlow

open TorchSharp

/// The alignment methods of the thesis (Rebasin.fs has their equations).
type AlignmentMethod =
    /// Weight matching (Ainsworth et al. 2023), the default.
    | WeightMatching
    /// Sinkhorn re-basin on ‖θ_ref − π(θ)‖² (thesis eq. 4.4).
    | SinkhornL2
    /// Sinkhorn re-basin on the training loss at the midpoint of the linear path (eq. 4.5).
    | SinkhornMid
    /// Sinkhorn re-basin on the training loss at a random point of the linear path (eq. 4.6).
    | SinkhornRnd

[<RequireQualifiedAccess>]
module ZooAlignment =
    /// Minibatch of the Sinkhorn data objectives (Mid, Rnd): the anchors' loader batch is 64; 128 halves the gradient
    /// noise at little cost for these small MLPs.
    let sinkhornBatch = 128

    /// The method's name as the CLI writes it ("weight-matching", "sinkhorn-l2", "sinkhorn-mid", "sinkhorn-rnd").
    let name (m: AlignmentMethod) : string =
        match m with
        | WeightMatching -> "weight-matching"
        | SinkhornL2 -> "sinkhorn-l2"
        | SinkhornMid -> "sinkhorn-mid"
        | SinkhornRnd -> "sinkhorn-rnd"

    /// The re-basin method with the thesis' defaults. The data objectives read the zoo's own task data (its training
    /// split, with the zoo's seed).
    let rebasin (m: AlignmentMethod) (zoo: Zoo) : Rebasin.Method =
        let dataLoss () =
            let data = Sources.load zoo.Task zoo.Config.Seed
            Rebasin.crossEntropyLoss zoo.Layout data.Train.X data.Train.Y sinkhornBatch zoo.Config.Seed
        match m with
        | WeightMatching -> Rebasin.WeightMatching Rebasin.defaultWeightMatching
        | SinkhornL2 -> Rebasin.Sinkhorn (Rebasin.defaultSinkhorn Rebasin.L2)
        | SinkhornMid -> Rebasin.Sinkhorn (Rebasin.defaultSinkhorn (Rebasin.Midpoint (dataLoss ())))
        | SinkhornRnd -> Rebasin.Sinkhorn (Rebasin.defaultSinkhorn (Rebasin.RandomPoint (dataLoss ())))

    /// Networks per chunk: weight matching holds only [chunk, h, h] scores; Sinkhorn holds an autograd graph per chunk.
    let chunkFor (m: Rebasin.Method) = match m with Rebasin.WeightMatching _ -> 16384 | Rebasin.Sinkhorn _ -> 4096

    /// The reference network: the zoo's first stored checkpoint, as in the anchor code (`align_to_ref` aligns to
    /// `wsos[0]`, the first checkpoint of run 0 after the dropped epochs; anchors §7). Any fixed member works; the
    /// first one makes the choice independent of the zoo's size and needs no extra pass.
    let referenceIndex = 0

    /// The reference network's weights: a [1, P] view of the zoo.
    let reference (zoo: Zoo) : Tensor = zoo.Theta.narrow(0L, int64 referenceIndex, 1L)

    /// Aligns every checkpoint to the reference; `progress done total` after each chunk. Returns the aligned weights.
    let align (progress: int -> int -> unit) (m: Rebasin.Method) (zoo: Zoo) : Tensor =
        Rebasin.align m zoo.Layout (chunkFor m) progress (reference zoo) zoo.Theta

    /// Mean squared distance ‖θ_ref − θ‖² over the networks θ [N, P] to the reference [1, P].
    let meanSquaredDistance (reference: Tensor) (theta: Tensor) : float =
        Scope.value (fun () -> (theta - reference).square().sum(1L).mean().ToDouble())
