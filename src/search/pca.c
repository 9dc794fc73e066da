/* pca.c - per-second pooling of YAMNet patch embeddings and the PCA that
 * reduces them to AudioSet's 128-d rows: covariance with OpenBLAS dsyrk, the
 * leading eigenvectors with LAPACK dsyevr (shipped inside libopenblas),
 * whitening and the 8-bit quantisation (conventions in pca.h). Math only: the
 * export stage reads the embeddings and writes the fitted PCA. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/pca.h"

/* LAPACK's Fortran entry point, as libopenblas exports it (gfortran passes the
 * lengths of character arguments last). */
extern void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n,
		    double *a, const int *lda, const double *vl, const double *vu,
		    const int *il, const int *iu, const double *abstol, int *m, double *w,
		    double *z, const int *ldz, int *isuppz, double *work, const int *lwork,
		    int *iwork, const int *liwork, int *info, size_t, size_t, size_t);

size_t aed_pool_seconds(const float *emb, size_t n_patches, int dim, size_t n_seconds,
			float *rows)
{
	size_t written = 0;

	if (!n_patches)
		return 0;
	for (size_t s = 0; s < n_seconds; s++) {
		float *r = rows + s * (size_t)dim;
		size_t k = 0;
		memset(r, 0, (size_t)dim * sizeof *r);
		for (size_t i = 0; i < n_patches; i++) {
			double a = AED_PATCH_HOP_S * (double)i, b = a + AED_PATCH_LEN_S;
			if (a < (double)(s + 1) - 1e-9 && b > (double)s + 1e-9) {
				const float *e = emb + i * (size_t)dim;
				for (int d = 0; d < dim; d++)
					r[d] += e[d];
				k++;
			}
		}
		if (!k) {
			memcpy(r, emb + (n_patches - 1) * (size_t)dim, (size_t)dim * sizeof *r);
			k = 1;
		}
		for (int d = 0; d < dim; d++)
			r[d] /= (float)k;
		written++;
	}
	return written;
}

int aed_pca_fit(const float *x, size_t n, int dim_in, int dim_out, struct aed_pca *p)
{
	const size_t chunk = 2048;
	size_t d = (size_t)dim_in;
	double *cov = NULL, *block = NULL, *w = NULL, *z = NULL, *work = NULL;
	int *isuppz = NULL, *iwork = NULL;
	int rc = AED_OK;

	memset(p, 0, sizeof *p);
	if (n < 2 || dim_in < 1 || dim_out < 1 || dim_out > dim_in)
		return aed_error(AED_EUSAGE, "PCA: %zu rows of %d to %d dimensions: need 2 rows or more",
				 n, dim_in, dim_out);
	p->dim_in = dim_in;
	p->dim_out = dim_out;
	p->n_rows = (int64_t)n;
	p->mean = calloc(d, sizeof *p->mean);
	p->components = calloc((size_t)dim_out * d, sizeof *p->components);
	p->eigenvalues = calloc((size_t)dim_out, sizeof *p->eigenvalues);
	cov = calloc(d * d, sizeof *cov);
	block = malloc(chunk * d * sizeof *block);
	w = calloc(d, sizeof *w);
	z = calloc(d * (size_t)dim_out, sizeof *z);
	isuppz = calloc(2 * d, sizeof *isuppz);
	if (!p->mean || !p->components || !p->eigenvalues || !cov || !block || !w || !z || !isuppz) {
		rc = aed_error(AED_ENOMEM, "PCA: out of memory for %d dimensions", dim_in);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++)
			p->mean[j] += x[i * d + j];
	for (size_t j = 0; j < d; j++)
		p->mean[j] /= (double)n;
	for (size_t i0 = 0; i0 < n; i0 += chunk) {
		size_t k = n - i0 < chunk ? n - i0 : chunk;
		for (size_t i = 0; i < k; i++)
			for (size_t j = 0; j < d; j++)
				block[i * d + j] = x[(i0 + i) * d + j] - p->mean[j];
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, dim_in, (int)k, 1.0, block,
			    dim_in, 1.0, cov, dim_in);
	}
	for (size_t j = 0; j < d * d; j++)
		cov[j] /= (double)(n - 1);
	/* Row-major upper = column-major lower. */
	int nn = dim_in, lda = dim_in, il = dim_in - dim_out + 1, iu = dim_in, m = 0, info = 0;
	int lwork = -1, liwork = -1, iwq = 0;
	double vl = 0, vu = 0, abstol = 0, wq = 0;
	dsyevr_("V", "I", "L", &nn, cov, &lda, &vl, &vu, &il, &iu, &abstol, &m, w, z, &lda,
		isuppz, &wq, &lwork, &iwq, &liwork, &info, 1, 1, 1);
	if (info) {
		rc = aed_error(AED_EINTERNAL, "PCA: dsyevr workspace query failed (info %d)", info);
		goto out;
	}
	lwork = (int)wq;
	liwork = iwq;
	work = malloc((size_t)lwork * sizeof *work);
	iwork = malloc((size_t)liwork * sizeof *iwork);
	if (!work || !iwork) {
		rc = aed_error(AED_ENOMEM, "PCA: out of memory");
		goto out;
	}
	dsyevr_("V", "I", "L", &nn, cov, &lda, &vl, &vu, &il, &iu, &abstol, &m, w, z, &lda,
		isuppz, work, &lwork, iwork, &liwork, &info, 1, 1, 1);
	if (info || m != dim_out) {
		rc = aed_error(AED_EINTERNAL, "PCA: dsyevr failed (info %d, %d of %d eigenvectors)",
				info, m, dim_out);
		goto out;
	}
	for (int k = 0; k < dim_out; k++) {
		/* ascending order from LAPACK: largest last */
		const double *v = z + (size_t)(dim_out - 1 - k) * d;
		double *c = p->components + (size_t)k * d;
		size_t big = 0;
		for (size_t j = 0; j < d; j++)
			if (fabs(v[j]) > fabs(v[big]))
				big = j;
		double sign = v[big] < 0 ? -1.0 : 1.0;
		for (size_t j = 0; j < d; j++)
			c[j] = sign * v[j];
		p->eigenvalues[k] = w[dim_out - 1 - k];
	}
out:
	free(cov);
	free(block);
	free(w);
	free(z);
	free(work);
	free(isuppz);
	free(iwork);
	if (rc)
		aed_pca_release(p);
	return rc;
}

void aed_pca_apply(const struct aed_pca *p, const float *x, float *out)
{
	for (int k = 0; k < p->dim_out; k++) {
		const double *c = p->components + (size_t)k * (size_t)p->dim_in;
		double s = 0;
		for (int j = 0; j < p->dim_in; j++)
			s += c[j] * ((double)x[j] - p->mean[j]);
		double l = p->eigenvalues[k];
		out[k] = l > 0 ? (float)(s / sqrt(l)) : 0.0f;
	}
}

uint8_t aed_quantize_byte(float v)
{
	if (!(v > -2.0f)) /* also NaN */
		v = -2.0f;
	if (v > 2.0f)
		v = 2.0f;
	double q = floor(((double)v + 2.0) * 255.0 / 4.0);
	return (uint8_t)(q > 255 ? 255 : q);
}

void aed_pca_release(struct aed_pca *p)
{
	free(p->mean);
	free(p->components);
	free(p->eigenvalues);
	memset(p, 0, sizeof *p);
}
