/* cpu.c - the CPU backend for YAMNet: pointwise convolutions and the dense
 * layer as OpenBLAS SGEMM over a batch of patches, layer1 as im2col + SGEMM,
 * depthwise 3x3 as a direct loop vectorised over channels; bias and ReLU are
 * fused into the pass that follows each product.
 *
 * Activations are NHWC, patches of a batch back to back, so a pointwise conv
 * is one [B*H*W, Cin] x [Cin, Cout] product. The early layers (large maps,
 * few channels) run one patch at a time so that a patch stays in cache; the
 * later ones run on the whole sub-batch, which gives their products rows. The batch is split across worker
 * threads (each calling single-threaded SGEMM); every worker always runs a
 * full sub-batch (missing patches are zero) so that each SGEMM call has the
 * same shape whatever the batch holds: a patch's result then does not depend
 * on its neighbours, which makes resumed runs bit-identical to clean ones. */
#include "aedcurate/nn.h"
#include "aedcurate/error.h"
#include "aedcurate/util.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PATCH_FLOATS (AED_YAMNET_PATCH_FRAMES * AED_YAMNET_MEL_BANDS)
#define CHUNK_FLOATS (64 * 1024) /* pointwise output per SGEMM call: 256 KiB */
#define EARLY 11 /* layer1 .. layer6 pointwise run patch by patch */

typedef float v8sf __attribute__((vector_size(32), aligned(4)));
typedef int32_t v8si __attribute__((vector_size(32), aligned(4)));

struct worker {
	struct cpu *cpu;
	pthread_t thread;
	float *a, *b;       /* activation ping-pong buffers, sub * max_act floats */
	float *col;         /* layer1 im2col, sub * 48*32*9 floats */
	float *pool;        /* sub * 1024 */
	float *logits;      /* sub * 521 */
	float *pa, *pb;     /* one patch's activations in the early layers */
	float *zero;        /* a patch of zeros (padding of a short sub-batch) */
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

/* 1x1 conv as SGEMM, in chunks of whole patches so that each chunk's output
 * is still in cache when bias and ReLU are applied to it. */
static void pointwise(const struct aed_yamnet_layer *L, const float *in, int nb, float *out)
{
	const size_t hw = (size_t)L->h_out * L->w_out;
	int per = (int)(CHUNK_FLOATS / (hw * (size_t)L->cout));
	if (per < 1)
		per = 1;
	for (int p0 = 0; p0 < nb; p0 += per) {
		int np = nb - p0 < per ? nb - p0 : per;
		const float *a = in + (size_t)p0 * hw * L->cin;
		float *c = out + (size_t)p0 * hw * L->cout;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(np * hw), L->cout, L->cin,
			    1.0f, a, L->cin, L->weight, L->cin, 0.0f, c, L->cout);
		bias_relu(c, np * hw, L->cout, L->bias);
	}
}

static void run_layer(const struct aed_yamnet_layer *L, const float *in, int nb, float *col,
		      float *out)
{
	if (L->kind == AED_YAMNET_CONV)
		conv1(L, in, nb, col, out);
	else if (L->kind == AED_YAMNET_DEPTHWISE)
		depthwise(L, in, nb, out);
	else
		pointwise(L, in, nb, out);
}

/* The whole network for one worker's sub-batch (always cpu->sub patches).
 * Layers before EARLY (large maps, few channels) run one patch at a time so
 * that a patch's activations stay in cache; the rest run on the sub-batch,
 * where batching gives the 1x1 products enough rows. */
static void forward(struct worker *w)
{
	const struct aed_yamnet *m = w->cpu->m;
	const int nb = w->cpu->sub;
	float *a = w->a, *b = w->b, *t;
	const struct aed_yamnet_layer *e = &m->layers[EARLY - 1];
	const size_t early_out = (size_t)e->h_out * e->w_out * e->cout;

	for (int p = 0; p < nb; p++) {
		const float *src = p < w->n ? w->in + (size_t)p * PATCH_FLOATS : w->zero;
		for (int li = 0; li < EARLY; li++) {
			float *dst = li == EARLY - 1 ? b + (size_t)p * early_out : li % 2 ? w->pb : w->pa;
			run_layer(&m->layers[li], src, 1, w->col, dst);
			src = dst;
		}
	}
	for (int li = EARLY; li < AED_YAMNET_LAYERS; li++) {
		run_layer(&m->layers[li], b, nb, w->col, a);
		t = a; a = b; b = t;
	}
	/* b holds [nb][h*w][1024]: global average pooling. */
	const struct aed_yamnet_layer *last = &m->layers[AED_YAMNET_LAYERS - 1];
	const int hw = last->h_out * last->w_out, c = last->cout;
	for (int p = 0; p < nb; p++) {
		float *e = w->pool + (size_t)p * c;
		const float *x = b + (size_t)p * hw * c;
		for (int j = 0; j < c; j++)
			e[j] = x[j];
		for (int k = 1; k < hw; k++)
			for (int j = 0; j < c; j++)
				e[j] += x[(size_t)k * c + j];
		for (int j = 0; j < c; j++)
			e[j] /= (float)hw;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, AED_YAMNET_CLASSES, c, 1.0f,
		    w->pool, c, m->dense_w, c, 0.0f, w->logits, AED_YAMNET_CLASSES);
	for (int p = 0; p < w->n; p++) {
		const float *l = w->logits + (size_t)p * AED_YAMNET_CLASSES;
		float *s = w->scores + (size_t)p * AED_YAMNET_CLASSES;
		for (int j = 0; j < AED_YAMNET_CLASSES; j++)
			s[j] = 1.0f / (1.0f + expf(-(l[j] + m->dense_b[j])));
	}
	memcpy(w->emb, w->pool, (size_t)w->n * c * sizeof *w->emb);
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
		free(cpu->w[i].a);
		free(cpu->w[i].b);
		free(cpu->w[i].col);
		free(cpu->w[i].pool);
		free(cpu->w[i].logits);
		free(cpu->w[i].pa);
		free(cpu->w[i].pb);
		free(cpu->w[i].zero);
	}
	free(cpu->w);
	if (cpu->blas_threads > 0)
		openblas_set_num_threads(cpu->blas_threads);
	free(cpu);
	*state = NULL;
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
	/* SGEMM with one row takes a different path (GEMV) with other rounding:
	 * two rows at least keep the results the same for every batch size. */
	if (cpu->sub < 2)
		cpu->sub = 2;
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
		w->a = malloc((size_t)cpu->sub * cpu->max_act * sizeof(float));
		w->b = malloc((size_t)cpu->sub * cpu->max_act * sizeof(float));
		w->col = malloc(col * sizeof(float));
		w->pa = malloc(cpu->max_act * sizeof(float));
		w->pb = malloc(cpu->max_act * sizeof(float));
		w->zero = calloc(PATCH_FLOATS, sizeof(float));
		w->pool = malloc((size_t)cpu->sub * AED_YAMNET_EMBED_DIM * sizeof(float));
		w->logits = malloc((size_t)cpu->sub * AED_YAMNET_CLASSES * sizeof(float));
		if (!w->a || !w->b || !w->col || !w->pool || !w->logits || !w->pa || !w->pb ||
		    !w->zero)
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
	/* Share the patches evenly; each worker still runs a full sub-batch, so
	 * every SGEMM has the same shape whatever n is. */
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
