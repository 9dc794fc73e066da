/* pca.h - per-second pooling of YAMNet patch embeddings and a PCA fitted on
 * such rows: the math the TFRecord export uses to turn 1024-d embeddings into
 * AudioSet's 128-d quantised rows (layout in export.h). No database, no files:
 * arrays in, arrays out.
 *
 * Pooling: second s is the mean of the patch embeddings overlapping [s, s+1)
 * (patch i covers [AED_PATCH_HOP_S i, AED_PATCH_HOP_S i + AED_PATCH_LEN_S) s).
 * PCA: the covariance of the rows (OpenBLAS dsyrk), its leading eigenvectors
 * (LAPACK dsyevr); a row is centred, projected and divided by the square root
 * of each eigenvalue (whitening, so that [-2, 2] spans two standard
 * deviations), then clipped to [-2, 2] and quantised as
 * floor((x + 2) * 255 / 4), as the AudioSet release's VGGish postprocessor does.
 *
 * Ownership: a struct aed_pca is embedded by the caller, filled by
 * aed_pca_fit() and released with aed_pca_release(); output arrays are the
 * caller's. aed_pca_fit() returns an enum aed_status and records a message.
 */
#ifndef AEDCURATE_PCA_H
#define AEDCURATE_PCA_H

#include <stddef.h>
#include <stdint.h>

#include "aedcurate/metrics.h" /* AED_PATCH_HOP_S, AED_PATCH_LEN_S */

#define AED_PCA_DIM 128

/* Mean of the patches overlapping each second: emb [n_patches][dim] to
 * rows [n_seconds][dim]; a second no patch overlaps copies the last patch.
 * Returns the number of rows written (<= n_seconds). */
size_t aed_pool_seconds(const float *emb, size_t n_patches, int dim, size_t n_seconds,
			float *rows);

struct aed_pca {
	int dim_in, dim_out;     /* 1024, 128 */
	int64_t n_rows;          /* rows the fit saw */
	double *mean;            /* [dim_in] */
	double *components;      /* [dim_out][dim_in], unit rows, largest eigenvalue first,
	                          * each row's largest-magnitude entry positive */
	double *eigenvalues;     /* [dim_out] */
};

/* Fit on x [n][dim_in] (row-major f32). Needs n >= 2. */
int aed_pca_fit(const float *x, size_t n, int dim_in, int dim_out, struct aed_pca *p);
/* Whitened projection of one row: out[k] = (c_k . (x - mean)) / sqrt(lambda_k)
 * (0 where lambda_k <= 0). */
void aed_pca_apply(const struct aed_pca *p, const float *x, float *out);
/* floor((clip(v, -2, 2) + 2) * 255 / 4) */
uint8_t aed_quantize_byte(float v);
void aed_pca_release(struct aed_pca *p);

#endif
