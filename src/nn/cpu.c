/* cpu.c - the CPU backend for YAMNet: pointwise convolutions as OpenBLAS
 * SGEMM, layer1 as im2col + SGEMM, depthwise 3x3 as a direct loop
 * vectorised over channels, the dense layer as a fixed-order dot product;
 * bias and ReLU are fused into the pass that follows each product.
 *
 * Activations are NHWC, so a pointwise conv is one [H*W, Cin] x [Cin, Cout]
 * product. Every patch runs through the network on its own, through SGEMM
 * calls of the same shapes whatever the batch, the thread count or the load:
 * OpenBLAS computes an output row with different rounding depending on where
 * the row falls in its M tiles (the Haswell kernels do; the tail tile of a
 * product is summed in another order), so a patch that shared a product
 * with its neighbours got results that depended on the batch it came in.
 * Alone, a patch's embedding and scores are a function of the patch only:
 * bit-identical across batch sizes, thread counts, kill -9 and rerun. The
 * batch is split across worker threads, each calling single-threaded SGEMM;
 * the cost is small because a patch's activations stay in cache. */
#include "aedcurate/nn.h"
#include "aedcurate/error.h"
#include "aedcurate/util.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PATCH_FLOATS (AED_YAMNET_PATCH_FRAMES * AED_YAMNET_MEL_BANDS)

typedef float v8sf __attribute__((vector_size(32), aligned(4)));
typedef int32_t v8si __attribute__((vector_size(32), aligned(4)));

struct worker {
	struct cpu *cpu;
	pthread_t thread;
	float *pa, *pb;     /* one patch's activations, ping-pong, max_act floats each */
	float *col;         /* layer1 im2col, 48*32*9 floats */
	/* job */
	const float *in;    /* n patches */
	int n;              /* patches in this job, <= sub */
	float *emb, *scores;
};

struct cpu {
	const struct aed_yamnet *m;
	int threads;        /* workers */
	int sub;            /* patches per worker per call */
	int blas_threads;   /* OpenBLAS's thread count before init, restored by free */
	size_t max_act;     /* floats of the largest activation of one patch */
	struct worker *w;
};

/* SAME padding: TF pads (total / 2) before and the rest after, so with an
 * even input and stride 2 the extra row/column goes at the bottom/right. */
static int pad_before(int in, int out, int stride)
{
	int total = (out - 1) * stride + 3 - in;
	return total > 0 ? total / 2 : 0;
}

/* The hot loops are compiled for AVX2 and for the baseline, picked at load
 * time (ifunc); both give the same results on a machine that has AVX2
 * because the choice never changes within a process. */
#if defined(__x86_64__) && defined(__GNUC__)
#define HOT __attribute__((target_clones("avx2", "default")))
#else
#define HOT
#endif

/* ReLU without comparisons: clear the lanes whose sign bit is set. (A
 * macro: a function returning a 32-byte vector changes ABI with AVX.) */
#define RELU8(x) ((v8sf)((v8si)(x) & ~((v8si)(x) >> 31)))

/* x[r][j] = max(x[r][j] + bias[j], 0). */
HOT static void bias_relu(float *restrict x, size_t rows, int c, const float *restrict bias)
{
	const int c8 = c & ~7;
	for (size_t r = 0; r < rows; r++, x += c) {
		int j;
		for (j = 0; j < c8; j += 8) {
			v8sf v = *(v8sf *)(x + j) + *(const v8sf *)(bias + j);
			*(v8sf *)(x + j) = RELU8(v);
		}
		for (; j < c; j++)
			x[j] = x[j] + bias[j] > 0.0f ? x[j] + bias[j] : 0.0f;
	}
}

/* layer1: 3x3 conv, 1 -> cout channels: im2col of the patch, then one SGEMM. */
static void conv1(const struct aed_yamnet_layer *L, const float *in, int nb, float *col,
		  float *out)
{
	int pt = pad_before(L->h_in, L->h_out, L->stride);
	int pl = pad_before(L->w_in, L->w_out, L->stride);
	size_t rows = (size_t)nb * L->h_out * L->w_out;
	float *c = col;
	for (int b = 0; b < nb; b++) {
		const float *x = in + (size_t)b * L->h_in * L->w_in;
		for (int oy = 0; oy < L->h_out; oy++)
			for (int ox = 0; ox < L->w_out; ox++, c += 9)
				for (int ky = 0; ky < 3; ky++)
					for (int kx = 0; kx < 3; kx++) {
						int iy = oy * L->stride - pt + ky;
						int ix = ox * L->stride - pl + kx;
						c[ky * 3 + kx] = iy >= 0 && iy < L->h_in && ix >= 0 &&
								 ix < L->w_in ? x[iy * L->w_in + ix] : 0.0f;
					}
	}
	/* out[rows][cout] = col[rows][9] * W[cout][9]^T */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, L->cout, 9, 1.0f, col, 9,
		    L->weight, 9, 0.0f, out, L->cout);
	bias_relu(out, rows, L->cout, L->bias);
}

/* Depthwise 3x3 with bias and ReLU. Channels are innermost (NHWC), so each
 * tap is a multiply-add of two contiguous rows of c floats into the output
 * pixel, vectorised 8 wide; bounds are checked once per tap, not per lane. */
HOT static void depthwise(const struct aed_yamnet_layer *L, const float *in, int nb, float *out)
{
	const int c = L->cin, s = L->stride, hi = L->h_in, wi = L->w_in;
	const int pt = pad_before(hi, L->h_out, s), pl = pad_before(wi, L->w_out, s);
	const int c8 = c & ~7;
	for (int b = 0; b < nb; b++) {
		const float *x = in + (size_t)b * hi * wi * c;
		float *y = out + (size_t)b * L->h_out * L->w_out * c;
		for (int oy = 0; oy < L->h_out; oy++)
			for (int ox = 0; ox < L->w_out; ox++, y += c) {
				memcpy(y, L->bias, (size_t)c * sizeof *y);
				for (int ky = 0; ky < 3; ky++) {
					int iy = oy * s - pt + ky;
					if (iy < 0 || iy >= hi)
						continue;
					for (int kx = 0; kx < 3; kx++) {
						int ix = ox * s - pl + kx;
						if (ix < 0 || ix >= wi)
							continue;
						const float *xr = x + ((size_t)iy * wi + ix) * c;
						const float *wr = L->weight + (ky * 3 + kx) * c;
						int j;
						for (j = 0; j < c8; j += 8)
							*(v8sf *)(y + j) += *(const v8sf *)(xr + j) *
									    *(const v8sf *)(wr + j);
						for (; j < c; j++)
							y[j] += xr[j] * wr[j];
					}
				}
				int j;
				for (j = 0; j < c8; j += 8)
					*(v8sf *)(y + j) = RELU8(*(v8sf *)(y + j));
				for (; j < c; j++)
					y[j] = y[j] > 0.0f ? y[j] : 0.0f;
			}
	}
}

/* 1x1 conv as one SGEMM over the patch's pixels: [H*W, Cin] x [Cin, Cout]. */
static void pointwise(const struct aed_yamnet_layer *L, const float *in, float *out)
{
	const int hw = L->h_out * L->w_out;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, hw, L->cout, L->cin, 1.0f, in,
		    L->cin, L->weight, L->cin, 0.0f, out, L->cout);
	bias_relu(out, (size_t)hw, L->cout, L->bias);
}

/* Dense layer and sigmoid: logits as fixed-order dot products (8 partial
 * sums, added pairwise), so they never depend on a library's choice of path
 * for a one-row product. 0.5 M multiply-adds a patch: a rounding error next
 * to the network's 69 M. */
HOT static void dense(const struct aed_yamnet *m, const float *restrict e, float *restrict scores)
{
	const int c = AED_YAMNET_EMBED_DIM;
	for (int j = 0; j < AED_YAMNET_CLASSES; j++) {
		const float *restrict w = m->dense_w + (size_t)j * c;
		v8sf acc = { 0 };
		for (int k = 0; k < c; k += 8)
			acc += *(const v8sf *)(e + k) * *(const v8sf *)(w + k);
		float l = ((acc[0] + acc[4]) + (acc[1] + acc[5])) +
			  ((acc[2] + acc[6]) + (acc[3] + acc[7]));
		scores[j] = 1.0f / (1.0f + expf(-(l + m->dense_b[j])));
	}
}

/* The whole network for one patch: `in` [96 x 64] -> `emb` [1024] and
 * `scores` [521]. */
static void forward_patch(struct worker *w, const float *in, float *emb, float *scores)
{
	const struct aed_yamnet *m = w->cpu->m;
	const float *src = in;
	float *dst = w->pa;

	for (int li = 0; li < AED_YAMNET_LAYERS; li++) {
		const struct aed_yamnet_layer *L = &m->layers[li];
		if (L->kind == AED_YAMNET_CONV)
			conv1(L, src, 1, w->col, dst);
		else if (L->kind == AED_YAMNET_DEPTHWISE)
			depthwise(L, src, 1, dst);
		else
			pointwise(L, src, dst);
		src = dst;
		dst = dst == w->pa ? w->pb : w->pa;
	}
	/* src holds [h*w][1024]: global average pooling. */
	const struct aed_yamnet_layer *last = &m->layers[AED_YAMNET_LAYERS - 1];
	const int hw = last->h_out * last->w_out, c = last->cout;
	for (int j = 0; j < c; j++)
		emb[j] = src[j];
	for (int k = 1; k < hw; k++)
		for (int j = 0; j < c; j++)
			emb[j] += src[(size_t)k * c + j];
	for (int j = 0; j < c; j++)
		emb[j] /= (float)hw;
	dense(m, emb, scores);
}

static void forward(struct worker *w)
{
	for (int p = 0; p < w->n; p++)
		forward_patch(w, w->in + (size_t)p * PATCH_FLOATS, w->emb + (size_t)p * AED_YAMNET_EMBED_DIM,
			      w->scores + (size_t)p * AED_YAMNET_CLASSES);
}

static void *worker_main(void *arg)
{
	forward(arg);
	return NULL;
}

static void cpu_free(void **state)
{
	struct cpu *cpu = *state;
	if (!cpu)
		return;
	for (int i = 0; cpu->w && i < cpu->threads; i++) {
		free(cpu->w[i].col);
		free(cpu->w[i].pa);
		free(cpu->w[i].pb);
	}
	free(cpu->w);
	if (cpu->blas_threads > 0)
		openblas_set_num_threads(cpu->blas_threads);
	free(cpu);
	*state = NULL;
}

/* 64-byte aligned floats, so every worker's buffers sit alike in memory. */
static float *floats(size_t n)
{
	void *p = NULL;
	return posix_memalign(&p, 64, n * sizeof(float)) ? NULL : p;
}

static int cpu_init(const struct aed_yamnet *m, const struct aed_nn_opts *opts, void **state)
{
	struct cpu *cpu = calloc(1, sizeof *cpu);
	int max_batch = opts && opts->max_batch > 0 ? opts->max_batch : 32;

	*state = NULL;
	if (!cpu)
		return aed_error(AED_ENOMEM, "out of memory");
	cpu->m = m;
	cpu->threads = opts && opts->threads > 0 ? opts->threads : aed_ncpu();
	if (cpu->threads > max_batch)
		cpu->threads = max_batch;
	cpu->sub = (max_batch + cpu->threads - 1) / cpu->threads;
	cpu->max_act = PATCH_FLOATS;
	for (int i = 0; i < AED_YAMNET_LAYERS; i++) {
		const struct aed_yamnet_layer *L = &m->layers[i];
		size_t n = (size_t)L->h_out * L->w_out * L->cout;
		if (n > cpu->max_act)
			cpu->max_act = n;
	}
	const struct aed_yamnet_layer *l1 = &m->layers[0];
	size_t col = (size_t)l1->h_out * l1->w_out * 9;
	/* Each worker calls SGEMM itself: OpenBLAS must not start its own threads
	 * (until free, which restores the count for later users in the process). */
	cpu->blas_threads = openblas_get_num_threads();
	openblas_set_num_threads(1);
	cpu->w = calloc((size_t)cpu->threads, sizeof *cpu->w);
	if (!cpu->w)
		goto nomem;
	for (int i = 0; i < cpu->threads; i++) {
		struct worker *w = &cpu->w[i];
		w->cpu = cpu;
		w->col = floats(col);
		w->pa = floats(cpu->max_act);
		w->pb = floats(cpu->max_act);
		if (!w->col || !w->pa || !w->pb)
			goto nomem;
	}
	*state = cpu;
	return AED_OK;
nomem:
	{
		void *s = cpu;
		cpu_free(&s);
	}
	return aed_error(AED_ENOMEM, "out of memory for %d patches a batch", max_batch);
}

static int cpu_run_batch(void *state, const float *patches, int n, float *emb, float *scores)
{
	struct cpu *cpu = state;
	int used = 0;

	if (n < 0 || n > cpu->sub * cpu->threads)
		return aed_error(AED_EINTERNAL, "batch of %d patches (at most %d)", n,
				 cpu->sub * cpu->threads);
	/* Share the patches evenly; which worker runs a patch changes nothing in
	 * its results. */
	int per = (n + cpu->threads - 1) / cpu->threads;
	for (int i = 0; i < cpu->threads && i * per < n; i++) {
		struct worker *w = &cpu->w[i];
		int first = i * per;
		w->n = n - first < per ? n - first : per;
		w->in = patches + (size_t)first * PATCH_FLOATS;
		w->emb = emb + (size_t)first * AED_YAMNET_EMBED_DIM;
		w->scores = scores + (size_t)first * AED_YAMNET_CLASSES;
		used = i + 1;
	}
	/* Worker 0 runs on the calling thread; a worker whose thread cannot be
	 * started runs there too (same results, only slower). */
	int started = 1;
	while (started < used &&
	       pthread_create(&cpu->w[started].thread, NULL, worker_main, &cpu->w[started]) == 0)
		started++;
	if (used > 0)
		forward(&cpu->w[0]);
	for (int i = started; i < used; i++)
		forward(&cpu->w[i]);
	for (int i = 1; i < started; i++)
		pthread_join(cpu->w[i].thread, NULL);
	return AED_OK;
}

const struct aed_nn_backend_ops aed_nn_cpu_ops = {
	.name = "cpu",
	.init = cpu_init,
	.run_batch = cpu_run_batch,
	.free = cpu_free,
};
