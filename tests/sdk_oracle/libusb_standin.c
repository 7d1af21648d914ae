/*
 * A libusb-1.0 stand-in for the SDK oracle: every libusb call QHY's SDK makes is routed to Python callbacks
 * (tests/sdk_oracle/bridge.py), which serve it from the project's emulated camera or a probing script.
 *
 * Written for this project from libusb's public API (libusb.h): the structures below follow its ABI. Only the
 * 29 functions the SDK imports are provided. Devices live in slots 0..MAX_SLOTS-1; Python says which slots are
 * on the bus and with which IDs. Asynchronous transfers are queued on submit and completed, through the same
 * bulk/control callbacks, by whichever SDK thread calls libusb_handle_events*; hot-plug events raised from Python
 * are delivered the same way.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define MAX_SLOTS 16
#define MAX_HOTPLUG 8

enum { ERR_IO = -1, ERR_INVALID = -2, ERR_NO_DEVICE = -4, ERR_NOT_FOUND = -5, ERR_TIMEOUT = -7, ERR_PIPE = -9 };
enum { TS_COMPLETED, TS_ERROR, TS_TIMED_OUT, TS_CANCELLED, TS_STALL, TS_NO_DEVICE, TS_OVERFLOW };
enum { FLAG_FREE_BUFFER = 2, FLAG_FREE_TRANSFER = 4 };
enum { TYPE_CONTROL = 0 };

struct device_descriptor {
    uint8_t bLength, bDescriptorType;
    uint16_t bcdUSB;
    uint8_t bDeviceClass, bDeviceSubClass, bDeviceProtocol, bMaxPacketSize0;
    uint16_t idVendor, idProduct, bcdDevice;
    uint8_t iManufacturer, iProduct, iSerialNumber, bNumConfigurations;
};

struct transfer;
typedef void (*transfer_cb)(struct transfer *);
struct transfer {
    void *dev_handle;
    uint8_t flags;
    unsigned char endpoint, type;
    unsigned int timeout;
    int status, length, actual_length;
    transfer_cb callback;
    void *user_data;
    unsigned char *buffer;
    int num_iso_packets;
};

struct version { uint16_t major, minor, micro, nano; const char *rc, *describe; };
struct device { int slot; };
struct handle { int slot; };
typedef int (*hotplug_fn)(void *ctx, void *device, int event, void *user_data);

/* --- callbacks into Python ------------------------------------------------------------------------------- */
typedef int (*py_device_fn)(int slot, uint16_t *vid, uint16_t *pid, uint8_t *bus, uint8_t *address);
typedef int (*py_control_fn)(int slot, uint8_t request_type, uint8_t request, uint16_t value, uint16_t index,
                             unsigned char *data, uint16_t length, unsigned int timeout);
typedef int (*py_bulk_fn)(int slot, uint8_t endpoint, unsigned char *data, int length, int *transferred,
                          unsigned int timeout);
typedef void (*py_event_fn)(const char *what, int slot, int value);

static py_device_fn py_device;
static py_control_fn py_control;
static py_bulk_fn py_bulk;
static py_event_fn py_event;

void standin_set_callbacks(py_device_fn d, py_control_fn c, py_bulk_fn b, py_event_fn e) {
    py_device = d; py_control = c; py_bulk = b; py_event = e;
}

static void event(const char *what, int slot, int value) { if (py_event) py_event(what, slot, value); }

static struct device devices[MAX_SLOTS];
static int context_token;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int slot_info(int slot, uint16_t *vid, uint16_t *pid, uint8_t *bus, uint8_t *address) {
    uint16_t v = 0, p = 0; uint8_t b = 0, a = 0;
    int present = py_device ? py_device(slot, &v, &p, &b, &a) : 0;
    if (vid) *vid = v;
    if (pid) *pid = p;
    if (bus) *bus = b;
    if (address) *address = a;
    return present;
}

/* --- hot-plug ---------------------------------------------------------------------------------------------- */
struct hotplug { hotplug_fn fn; void *user_data; void *ctx; int events; };
static struct hotplug hotplugs[MAX_HOTPLUG];
static int n_hotplugs;
static int pending_event[MAX_SLOTS];  /* 1 arrived, 2 left, 0 none */

void standin_raise_hotplug(int slot, int which) {
    pthread_mutex_lock(&lock);
    if (slot >= 0 && slot < MAX_SLOTS) pending_event[slot] = which;
    pthread_mutex_unlock(&lock);
}

static void deliver_hotplug(void) {
    for (int slot = 0; slot < MAX_SLOTS; slot++) {
        pthread_mutex_lock(&lock);
        int which = pending_event[slot];
        pending_event[slot] = 0;
        pthread_mutex_unlock(&lock);
        if (!which) continue;
        for (int i = 0; i < n_hotplugs; i++)
            if (hotplugs[i].events & which)
                hotplugs[i].fn(hotplugs[i].ctx, &devices[slot], which, hotplugs[i].user_data);
        event("hotplug", slot, which);
    }
}

int libusb_hotplug_register_callback(void *ctx, int events, int flags, int vendor, int product, int cls,
                                     hotplug_fn fn, void *user_data, int *handle) {
    (void)vendor; (void)product; (void)cls;
    if (n_hotplugs >= MAX_HOTPLUG) return ERR_IO;
    hotplugs[n_hotplugs] = (struct hotplug){fn, user_data, ctx, events};
    if (handle) *handle = n_hotplugs + 1;
    n_hotplugs++;
    event("hotplug_register", -1, events);
    if (flags & 1)  /* LIBUSB_HOTPLUG_ENUMERATE */
        for (int slot = 0; slot < MAX_SLOTS; slot++)
            if ((events & 1) && slot_info(slot, 0, 0, 0, 0)) fn(ctx, &devices[slot], 1, user_data);
    return 0;
}

/* --- library and enumeration --------------------------------------------------------------------------------- */
int libusb_init(void **ctx) {
    for (int i = 0; i < MAX_SLOTS; i++) devices[i].slot = i;
    if (ctx) *ctx = &context_token;
    event("init", -1, 0);
    return 0;
}

void libusb_exit(void *ctx) { (void)ctx; event("exit", -1, 0); }

const struct version *libusb_get_version(void) {
    static const struct version v = {1, 0, 26, 0, "", "indi_qhy_py sdk oracle stand-in"};
    return &v;
}

int libusb_has_capability(uint32_t capability) { return capability == 1 || capability == 0x0100; }
const char *libusb_error_name(int code) {
    switch (code) {
    case 0: return "LIBUSB_SUCCESS";
    case ERR_IO: return "LIBUSB_ERROR_IO";
    case ERR_NO_DEVICE: return "LIBUSB_ERROR_NO_DEVICE";
    case ERR_TIMEOUT: return "LIBUSB_ERROR_TIMEOUT";
    case ERR_PIPE: return "LIBUSB_ERROR_PIPE";
    default: return "LIBUSB_ERROR_OTHER";
    }
}

long libusb_get_device_list(void *ctx, void ***list) {
    (void)ctx;
    void **out = calloc(MAX_SLOTS + 1, sizeof(void *));
    long n = 0;
    for (int slot = 0; slot < MAX_SLOTS; slot++)
        if (slot_info(slot, 0, 0, 0, 0)) out[n++] = &devices[slot];
    *list = out;
    event("get_device_list", -1, (int)n);
    return n;
}

void libusb_free_device_list(void **list, int unref) { (void)unref; free(list); }

int libusb_get_device_descriptor(void *dev, struct device_descriptor *desc) {
    int slot = ((struct device *)dev)->slot;
    memset(desc, 0, sizeof(*desc));
    desc->bLength = 18;
    desc->bDescriptorType = 1;
    desc->bcdUSB = 0x0300;
    desc->bMaxPacketSize0 = 9;
    desc->bNumConfigurations = 1;
    slot_info(slot, &desc->idVendor, &desc->idProduct, 0, 0);
    return 0;
}

uint8_t libusb_get_bus_number(void *dev) { uint8_t b; slot_info(((struct device *)dev)->slot, 0, 0, &b, 0); return b; }
uint8_t libusb_get_device_address(void *dev) {
    uint8_t a; slot_info(((struct device *)dev)->slot, 0, 0, 0, &a); return a;
}
uint8_t libusb_get_port_number(void *dev) { return (uint8_t)(((struct device *)dev)->slot + 1); }
int libusb_get_port_numbers(void *dev, uint8_t *ports, int n) {
    if (n < 1) return ERR_IO;
    ports[0] = (uint8_t)(((struct device *)dev)->slot + 1);
    return 1;
}
int libusb_get_device_speed(void *dev) { (void)dev; return 4; /* LIBUSB_SPEED_SUPER */ }

/* --- handles ------------------------------------------------------------------------------------------------- */
int libusb_open(void *dev, void **out) {
    int slot = ((struct device *)dev)->slot;
    if (!slot_info(slot, 0, 0, 0, 0)) return ERR_NO_DEVICE;
    struct handle *h = malloc(sizeof(*h));
    h->slot = slot;
    *out = h;
    event("open", slot, 0);
    return 0;
}

void libusb_close(void *h) { if (h) { event("close", ((struct handle *)h)->slot, 0); free(h); } }
void *libusb_get_device(void *h) { return &devices[((struct handle *)h)->slot]; }
int libusb_kernel_driver_active(void *h, int iface) { (void)h; (void)iface; return 0; }
int libusb_detach_kernel_driver(void *h, int iface) { (void)h; (void)iface; return 0; }
int libusb_attach_kernel_driver(void *h, int iface) { (void)h; (void)iface; return 0; }
int libusb_claim_interface(void *h, int iface) { event("claim", ((struct handle *)h)->slot, iface); return 0; }
int libusb_release_interface(void *h, int iface) { event("release", ((struct handle *)h)->slot, iface); return 0; }
int libusb_clear_halt(void *h, unsigned char ep) { event("clear_halt", ((struct handle *)h)->slot, ep); return 0; }

/* --- synchronous transfers ------------------------------------------------------------------------------------ */
int libusb_control_transfer(void *h, uint8_t request_type, uint8_t request, uint16_t value, uint16_t index,
                            unsigned char *data, uint16_t length, unsigned int timeout) {
    return py_control(((struct handle *)h)->slot, request_type, request, value, index, data, length, timeout);
}

int libusb_bulk_transfer(void *h, unsigned char endpoint, unsigned char *data, int length, int *transferred,
                         unsigned int timeout) {
    int got = 0;
    int rc = py_bulk(((struct handle *)h)->slot, endpoint, data, length, &got, timeout);
    if (transferred) *transferred = got;
    return rc;
}

/* --- asynchronous transfers ----------------------------------------------------------------------------------- */
struct queued { struct transfer *t; int cancelled; int freed; struct queued *next; };
static struct queued *queue_head;
static struct queued *running; /* the transfer being completed now, if any (under lock) */

void *libusb_alloc_transfer(int iso_packets) {
    (void)iso_packets;
    return calloc(1, sizeof(struct transfer) + 64);
}

static void free_now(struct transfer *tr) {
    if (tr && (tr->flags & FLAG_FREE_BUFFER)) free(tr->buffer);
    free(tr);
}

/* A transfer freed while it is being completed is freed once that ends (and gets no callback). */
void libusb_free_transfer(void *t) {
    pthread_mutex_lock(&lock);
    int deferred = running && running->t == t;
    if (deferred) running->freed = 1;
    pthread_mutex_unlock(&lock);
    if (!deferred) free_now(t);
}

int libusb_submit_transfer(struct transfer *t) {
    struct queued *q = calloc(1, sizeof(*q));
    q->t = t;
    pthread_mutex_lock(&lock);
    struct queued **tail = &queue_head;
    while (*tail) tail = &(*tail)->next;
    *tail = q;
    pthread_mutex_unlock(&lock);
    event("submit", ((struct handle *)t->dev_handle)->slot, t->length);
    return 0;
}

/* As libusb: a transfer still queued or being completed is cancelled (its callback follows with CANCELLED). */
int libusb_cancel_transfer(struct transfer *t) {
    int found = 0;
    pthread_mutex_lock(&lock);
    for (struct queued *q = queue_head; q; q = q->next)
        if (q->t == t) { q->cancelled = 1; found = 1; }
    if (running && running->t == t) { running->cancelled = 1; found = 1; }
    pthread_mutex_unlock(&lock);
    event("cancel", -1, found);
    return found ? 0 : ERR_NOT_FOUND;
}

static int status_of(int rc) {
    switch (rc) {
    case 0: return TS_COMPLETED;
    case ERR_TIMEOUT: return TS_TIMED_OUT;
    case ERR_PIPE: return TS_STALL;
    case ERR_NO_DEVICE: return TS_NO_DEVICE;
    default: return TS_ERROR;
    }
}

static void run_transfer(struct queued *q) {
    struct transfer *t = q->t;
    int slot = ((struct handle *)t->dev_handle)->slot;
    if (q->cancelled) {
        t->status = TS_CANCELLED;
        t->actual_length = 0;
    } else if (t->type == TYPE_CONTROL) {
        unsigned char *setup = t->buffer;
        uint16_t value = setup[2] | (setup[3] << 8), index = setup[4] | (setup[5] << 8);
        uint16_t length = setup[6] | (setup[7] << 8);
        int rc = py_control(slot, setup[0], setup[1], value, index, t->buffer + 8, length, t->timeout);
        t->status = rc < 0 ? status_of(rc) : TS_COMPLETED;
        t->actual_length = rc < 0 ? 0 : rc;
    } else {
        /* read into a buffer of our own and copy only if the transfer is still wanted: the SDK may cancel it, or
         * free it and its buffer, while Python serves the read */
        int got = 0, length = t->length;
        unsigned char *bounce = malloc(length > 0 ? length : 1);
        int rc = py_bulk(slot, t->endpoint, bounce, length, &got, t->timeout);
        pthread_mutex_lock(&lock);
        if (!q->cancelled && !q->freed) {
            memcpy(t->buffer, bounce, got);
            t->status = status_of(rc);
            t->actual_length = got;
        }
        pthread_mutex_unlock(&lock);
        free(bounce);
    }
    pthread_mutex_lock(&lock);
    if (q->cancelled && !q->freed) {
        t->status = TS_CANCELLED; /* cancelled while it ran */
        t->actual_length = 0;
    }
    int freed = q->freed;
    running = 0;
    pthread_mutex_unlock(&lock);
    if (freed) {
        free_now(t);
        return;
    }
    uint8_t flags = t->flags;
    if (t->callback) t->callback(t);
    if (flags & FLAG_FREE_TRANSFER) libusb_free_transfer(t);
}

/* One thread completes transfers at a time, in the order they were submitted: a real endpoint's transfers
 * complete in order, and the SDK calls libusb_handle_events from more than one thread. */
static pthread_mutex_t completing = PTHREAD_MUTEX_INITIALIZER;

static int complete_queued(void) {
    int done = 0;
    for (;;) {
        pthread_mutex_lock(&completing);
        pthread_mutex_lock(&lock);
        struct queued *q = queue_head;
        if (q) queue_head = q->next;
        running = q;
        pthread_mutex_unlock(&lock);
        if (q) run_transfer(q);
        pthread_mutex_unlock(&completing);
        if (!q) return done;
        free(q);
        done++;
    }
}

int libusb_handle_events_timeout_completed(void *ctx, struct timeval *tv, int *completed) {
    (void)ctx; (void)completed;
    deliver_hotplug();
    if (complete_queued() == 0) {
        long us = tv ? tv->tv_sec * 1000000L + tv->tv_usec : 10000L;
        if (us > 10000L) us = 10000L;
        struct timespec ts = {0, us * 1000L};
        nanosleep(&ts, 0);
    }
    return 0;
}

int libusb_handle_events(void *ctx) {
    struct timeval tv = {0, 10000};
    return libusb_handle_events_timeout_completed(ctx, &tv, 0);
}
