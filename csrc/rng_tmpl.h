/* The dropout mask, written once for both dtypes (see rng.c, which defines the counter
 * helpers this uses and instantiates it through fnn_instantiate.h). */

/* One dtype's mask over global indices [lo, lo + len); mask_out is already offset. */
static void FNN_F(fnn_dropout_range)(uint64_t key, uint64_t threshold, FNN_T keep_value,
                                     FNN_T *mask_out, ptrdiff_t lo, ptrdiff_t len) {
    uint64_t ctr = key + (uint64_t)lo * FNN_GOLDEN;
    ptrdiff_t i;
    for (i = 0; i < len; i++) {
        ctr += FNN_GOLDEN; /* key + (lo + i + 1) * golden */
        mask_out[i] = (fnn_splitmix64(ctr) >> 40) >= threshold ? keep_value : (FNN_T)0;
    }
}

void FNN_F(fnn_dropout_mask)(uint64_t seed, uint64_t stream, double rate, FNN_T *mask_out,
                             ptrdiff_t n, int n_threads) {
    uint64_t key = fnn_counter_key(seed, stream);
    uint64_t threshold = fnn_keep_threshold(rate);
    FNN_T keep_value = (FNN_T)(1.0 / (1.0 - rate)); /* NumPy: float64 1/(1-rate), cast */
    FNN_EW_FOR_BLOCKS(n, FNN_EW_COST_TRANSC, n_threads, lo, len,
                      FNN_F(fnn_dropout_range)(key, threshold, keep_value, mask_out + lo,
                                               lo, len));
}
