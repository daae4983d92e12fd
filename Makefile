# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of AF_MQTT (mqtt.ko), its tests and the VM runner.
#
#   make                 build mqtt.ko (and, for a kernel with KUnit, the
#                        codec's KUnit module) against $(KDIR); says which
#                        kernel it builds for
#   make install         install the module under $(DESTDIR)/lib/modules
#                        and <linux/mqtt.h> as
#                        $(DESTDIR)$(INCLUDEDIR)/linux/mqtt.h
#                        (/usr/local/include/linux/mqtt.h by default)
#   make check-docs      compile every C example of README.md and
#                        Documentation/networking/*.rst, on the host
#   make check-layers    list net/mqtt's calls between files, fail on one
#                        that goes up a layer (tools/check-layers.sh)
#   make check           install what is missing, check-docs,
#                        check-layers, boot
#                        $(KERNEL) in QEMU, run every selftest against
#                        mosquitto; exit != 0 on any failure or kernel
#                        warning
#   make run             boot, load the module and run the demo
#   make check-debug     the same suite plus the codec's KUnit tests on a
#                        debug kernel (KASAN, lockdep, kmemleak, debug
#                        objects), built once and cached in
#                        $(DEBUG_KERNEL_CACHE)
#   make bench           AF_MQTT against user-space MQTT clients in the VM
#                        (QEMU icount); table and JSON in .build/vm/
#   make fuzz            fuzz the wire codec in user space (libFuzzer, ASan,
#                        UBSan) for FUZZ_SECONDS (default 60), after
#                        replaying the seed corpus and every past crash
#   make checkpatch      checkpatch.pl --strict on the kernel sources
#   make sparse          the module build with C=2 W=1
#   make check-matrix    for every kernel Debian ships, bookworm's 6.1 to
#                        experimental's: the W=1 + sparse build and the
#                        whole "make check" suite in a VM booting it; one
#                        line per kernel, the last line summed
#   make kernels         list the matrix (selftests/net/mqtt/vm/kernels.sh)
#
# ARCH=arm64 (with check, check-matrix, bench, sparse, kernels, modules):
# the same for Debian's arm64 kernels, cross-built in the build roots and
# booted by qemu-system-aarch64 (TCG) with an arm64 root file system made
# from Debian's packages; the tests are cross-compiled against that root.
# Without KVER=, the newest arm64 kernel of the matrix.  A KVER= ending in
# -arm64 implies ARCH=arm64.
#
# The kernel: the running one when its build tree is installed, else the
# newest kernel under /boot that has one (the kernel the test VM boots).
# Override with KVER=, or KDIR= and KERNEL= (and MODULES=).  A KVER= that
# is not installed is a kernel of the matrix ("make kernels" lists them):
# fetched from the Debian mirror into $(KERNEL_CACHE) and built for in a
# build root with the compiler it was built with, under $(BUILD)/matrix.

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(ROOT)/.build

VM := $(ROOT)/selftests/net/mqtt/vm
KERNELS := $(VM)/kernels.sh
KERNEL_CACHE ?= /var/cache/mqtt-kernels
export MQTT_KERNEL_CACHE := $(KERNEL_CACHE)

# The guest architecture: this machine's (amd64), or arm64 when asked.
ifneq ($(filter arm64 aarch64,$(ARCH))$(filter %-arm64,$(KVER)),)
MQTT_ARCH := arm64
else
MQTT_ARCH := amd64
endif
export MQTT_ARCH
CROSS := aarch64-linux-gnu
ROOTFS := $(KERNEL_CACHE)/rootfs-arm64

RUNNING_KVER := $(shell uname -r)
ifeq ($(MQTT_ARCH)$(origin KVER),arm64undefined)
KVER := $(shell $(KERNELS) list 2>/dev/null | tail -n 1)
KVER_WHY := the newest arm64 kernel of the matrix
else ifeq ($(origin KVER),undefined)
ifneq ($(wildcard /lib/modules/$(RUNNING_KVER)/build/Makefile),)
KVER := $(RUNNING_KVER)
KVER_WHY := the running kernel
else
KVER := $(shell for v in $$(ls /boot/vmlinuz-* 2>/dev/null | \
		sed 's|^/boot/vmlinuz-||' | sort -V -r); do \
		[ -d /lib/modules/$$v/build ] && { echo $$v; break; }; done)
KVER_WHY := the newest installed kernel with a build tree; the running \
	kernel, $(RUNNING_KVER), has none
endif
else
KVER_WHY := KVER=$(KVER) as asked
endif
# A matrix kernel: KVER= names a release with no installed build tree.
MATRIX_KVER :=
ifeq ($(origin KDIR),undefined)
ifneq ($(KVER),)
ifeq ($(wildcard /lib/modules/$(KVER)/build/Makefile),)
MATRIX_KVER := $(KVER)
endif
endif
endif

ifneq ($(MATRIX_KVER),)
MOD_DIR := $(BUILD)/matrix/$(KVER)/src
KDIR_WHY := $(KVER), a kernel of the matrix ($(KERNEL_CACHE)/$(KVER))
KERNEL ?= $(KERNEL_CACHE)/$(KVER)/vmlinuz
MODULES ?= $(KERNEL_CACHE)/$(KVER)/root/lib/modules/$(KVER)
CHECK_RESULTS := $(BUILD)/vm/results-check-$(KVER)
else
MOD_DIR := $(ROOT)
ifeq ($(origin KDIR),undefined)
KDIR := /lib/modules/$(KVER)/build
KDIR_WHY := $(KVER) ($(KDIR)), $(KVER_WHY)
else
KDIR_WHY := $(KDIR), KDIR= as asked
endif
KERNEL ?= /boot/vmlinuz-$(KVER)
MODULES ?= /lib/modules/$(KVER)
CHECK_RESULTS := $(BUILD)/vm/results-check
endif
KSRC_TAR ?= $(firstword $(wildcard /usr/src/linux-source-*.tar.xz))

# make install: the header goes where the compiler finds it and no Debian
# package owns it (/usr/include/linux belongs to linux-libc-dev); the
# module into $(DESTDIR)/lib/modules/<release>/extra, then depmod.
PREFIX ?= /usr/local
INCLUDEDIR ?= $(PREFIX)/include
INSTALL_MOD_PATH ?= $(DESTDIR)
DEPMOD ?= /sbin/depmod
# The release modules_install installs for; kbuild's own depmod needs a
# System.map that Debian's linux-headers do not have, and skips.
KRELEASE = $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' \
	$(KDIR)/include/generated/utsrelease.h 2>/dev/null)

# arm64: the user-space programs are cross-compiled against the guest's
# root file system (its libc, libmosquitto and Paho C) and run there.
ifeq ($(MQTT_ARCH),arm64)
TESTS_OUT := $(BUILD)/arm64/selftests
USER_MAKE = CC="$(CROSS)-gcc --sysroot=$(ROOTFS)"
VM_ARCH_ARGS = --arch arm64 --root $(ROOTFS) --timeout 2400
ARCH_DEPS := qemu-system-arm gcc-$(CROSS) mmdebstrap
ROOTFS_DEP := rootfs
else
TESTS_OUT := $(ROOT)/selftests/net/mqtt
USER_MAKE =
VM_ARCH_ARGS =
ARCH_DEPS :=
ROOTFS_DEP :=
endif
TESTS = $(shell $(MAKE) -s --no-print-directory -C $(ROOT)/selftests/net/mqtt \
	OUTPUT=$(TESTS_OUT) list)
DEMO := $(BUILD)/samples/mqtt/mqtt_demo

.PHONY: all modules install clean deps tests demo check run checkpatch sparse
.PHONY: kdir check-docs

all: modules

# Say which kernel, and stop early with a hint when its tree is missing.
ifneq ($(MATRIX_KVER),)
# A matrix kernel: fetched when missing, built for in its build root from
# a copy of the sources (the tree's own objects stay those of the
# installed kernel).
kdir:
	@echo "mqtt: building for $(KDIR_WHY)"
	$(KERNELS) fetch $(KVER)
	@rm -rf $(MOD_DIR); mkdir -p $(MOD_DIR)
	@cd $(ROOT) && find Kbuild net include uapi \
		\( -name Kbuild -o -name '*.[ch]' \) -print0 | \
		cpio -0 -pdm --quiet $(MOD_DIR)

# W= and C= reach the build root's make only when passed on.
# So do W=, C= and the version (the copy has no debian/changelog).
KBUILD_MAKE = $(KERNELS) build $(KVER) $(MOD_DIR) $(if $(W),W=$(W)) \
	$(if $(C),C=$(C)) MQTT_VERSION=$(MQTT_VERSION)
else
kdir:
	@echo "mqtt: building for $(KDIR_WHY)"
	@test -f $(KDIR)/Makefile || { \
		echo "mqtt: no kernel build tree at $(KDIR): install" \
			"linux-headers-$(or $(KVER),<release>), or set" \
			"KVER= or KDIR=; \"make kernels\" lists the matrix" >&2; \
		exit 1; }

KBUILD_MAKE = $(MAKE) -C $(KDIR) M=$(ROOT)
endif

modules: kdir
	$(KBUILD_MAKE) modules

.PHONY: kernels check-matrix
kernels:
	@$(KERNELS) list

# Every kernel of the matrix; the test programs are built once, here,
# with the host's compiler: user space runs on every guest kernel.
check-matrix: deps tests
	MAKE="$(MAKE)" $(VM)/check-matrix.sh $(MATRIX)

install: modules
	@test -n "$(KDIR)" || { echo "mqtt: make install is for an" \
		"installed kernel, $(KVER) is only in the matrix cache" >&2; \
		exit 1; }
	$(MAKE) -C $(KDIR) M=$(ROOT) INSTALL_MOD_PATH=$(INSTALL_MOD_PATH) \
		modules_install
	$(DEPMOD) $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) -a $(KRELEASE)
	install -D -m 644 $(ROOT)/uapi/linux/mqtt.h \
		$(DESTDIR)$(INCLUDEDIR)/linux/mqtt.h

# The documentation's C examples, compiled against uapi/ (issue 10).
check-docs:
	$(ROOT)/tools/testing/docs/check-examples.sh

# net/mqtt's layers call one way (issue 10): the checker's self-test, then
# the built objects.
.PHONY: check-layers
check-layers: modules
	$(ROOT)/tools/check-layers.sh --self-test
	$(ROOT)/tools/check-layers.sh $(MOD_DIR)/net/mqtt

deps:
	$(VM)/deps.sh $(ARCH_DEPS)

# The arm64 guest's root (and the tests' sysroot), made once.
.PHONY: rootfs
rootfs:
	@MQTT_ARCH=arm64 $(KERNELS) rootfs >/dev/null

tests: $(ROOTFS_DEP)
	mkdir -p $(TESTS_OUT)
	$(MAKE) -C $(ROOT)/selftests/net/mqtt OUTPUT=$(TESTS_OUT) $(USER_MAKE)

demo:
	$(MAKE) -C $(ROOT)/samples/mqtt

# Dependencies first, then a fresh make that sees the installed kernel;
# the documentation's examples are checked on the host before the VM.
check: deps
	$(MAKE) -f $(ROOT)/Makefile check-vm

run: deps
	$(MAKE) -f $(ROOT)/Makefile run-vm

.PHONY: check-vm run-vm
check-vm: check-docs check-layers tests
	$(VM)/run-vm.sh $(VM_ARCH_ARGS) --kernel $(KERNEL) --modules $(MODULES) \
		--module $(MOD_DIR)/mqtt.ko --mode check --tests "$(TESTS)" \
		--results $(CHECK_RESULTS)

run-vm: modules demo
	$(VM)/run-vm.sh --kernel $(KERNEL) --modules $(MODULES) \
		--module $(MOD_DIR)/mqtt.ko --mode run \
		--demo "$(DEMO) $(BUILD)/samples/mqtt/mqtt_tls"

# The benchmark (issue 5): AF_MQTT against a hand-written TCP client,
# libmosquitto and Paho C, in the VM under QEMU icount; see
# selftests/net/mqtt/bench/.  BENCH_ARGS="--quick" for a smoke run.
BENCH_OUT := $(BUILD)/$(if $(filter arm64,$(MQTT_ARCH)),arm64/)bench
BENCH := $(BENCH_OUT)/mqtt_bench
BENCH_RESULTS := $(BUILD)/vm/results-bench$(if $(filter arm64,$(MQTT_ARCH)),-arm64)
BENCH_ARGS ?=
.PHONY: bench bench-vm bench-build
bench:
	$(VM)/deps.sh libpaho-mqtt-dev $(ARCH_DEPS)
	$(MAKE) -f $(ROOT)/Makefile bench-vm

bench-build: $(ROOTFS_DEP)
	mkdir -p $(BENCH_OUT)
	$(MAKE) -C $(ROOT)/selftests/net/mqtt/bench OUTPUT=$(BENCH_OUT) \
		$(USER_MAKE)

bench-vm: modules bench-build
	$(VM)/run-vm.sh $(VM_ARCH_ARGS) --kernel $(KERNEL) --modules $(MODULES) \
		--module $(MOD_DIR)/mqtt.ko --mode bench --bench $(BENCH) \
		--bench-args "$(BENCH_ARGS)" --timeout 10800 \
		--test-timeout 10000 --results $(BENCH_RESULTS)
	@echo "make bench: table in $(BENCH_RESULTS)/bench.txt," \
		"results in $(BENCH_RESULTS)/bench.json"

# The codec under libFuzzer; see tools/testing/fuzz/Makefile.
.PHONY: fuzz
fuzz:
	$(MAKE) -C $(ROOT)/tools/testing/fuzz fuzz

# Debug tier: Debian's linux-source-6.1, tinyconfig + debug-kernel.config,
# built once by debug-kernel.sh and cached outside the repository.  The
# module and the KUnit module are built against that tree from a copy of
# the sources in $(DEBUG_MOD), so the normal build is untouched (Kbuild of
# 6.1 has no separate output directory for external modules).
DEBUG_KERNEL_CACHE ?= /var/cache/mqtt-debug-kernel
DEBUG_MOD := $(BUILD)/debug-module
DEBUG_TIMEOUT ?= 2400
DEBUG_TEST_TIMEOUT ?= 900
# make check-debug KVER=<matrix kernel>: the debug kernel of that kernel's
# own source package, built and used in its build root with its compiler.
ifneq ($(MATRIX_KVER),)
DEBUG_ARGS := --kver $(MATRIX_KVER)
DEBUG_CC = $$($(KERNELS) path $(MATRIX_KVER) gcc)
DEBUG_MAKE = $(KERNELS) exec $(MATRIX_KVER) $$kdir $(DEBUG_MOD) -- \
	make CC=$(DEBUG_CC) HOSTCC=$(DEBUG_CC) MQTT_VERSION=$(MQTT_VERSION)
DEBUG_RESULTS := $(BUILD)/vm/results-debug-$(MATRIX_KVER)
else
DEBUG_ARGS :=
DEBUG_MAKE = $(MAKE)
DEBUG_RESULTS := $(BUILD)/vm/results-debug
endif
DEBUG_KERNEL_SH = MQTT_DEBUG_KERNEL_CACHE=$(DEBUG_KERNEL_CACHE) \
	$(VM)/debug-kernel.sh $(DEBUG_ARGS)

.PHONY: check-debug check-debug-vm debug-kernel debug-modules
check-debug: deps
	@test $(MQTT_ARCH) = amd64 || { echo "make check-debug: the debug" \
		"kernel is built for amd64 only" >&2; exit 1; }
	$(MAKE) -f $(ROOT)/Makefile check-debug-vm

debug-kernel:
	$(DEBUG_KERNEL_SH)

debug-modules: debug-kernel
	@set -e; \
	kdir=$$($(DEBUG_KERNEL_SH) --check-only 2>/dev/null); \
	echo "mqtt: building for the debug kernel" \
		"$$(cat $$kdir/kernelrelease) ($$kdir/build)"; \
	rm -rf $(DEBUG_MOD); mkdir -p $(DEBUG_MOD); \
	cd $(ROOT) && find Kbuild net include uapi \
		\( -name Kbuild -o -name '*.[ch]' \) -print0 | \
		cpio -0 -pdm --quiet $(DEBUG_MOD); \
	$(DEBUG_MAKE) -C $$kdir/build M=$(DEBUG_MOD) modules

check-debug-vm: debug-modules tests
	@set -e; \
	kdir=$$($(DEBUG_KERNEL_SH) --check-only 2>/dev/null); \
	$(VM)/run-vm.sh --debug --kernel $$kdir/bzImage \
		--modules $$kdir/root/lib/modules/$$(cat $$kdir/kernelrelease) \
		--module $(DEBUG_MOD)/mqtt.ko \
		--kunit-module $(DEBUG_MOD)/mqtt_codec_kunit.ko \
		--mode check --tests "$(TESTS)" --results $(DEBUG_RESULTS) \
		--timeout $(DEBUG_TIMEOUT) --test-timeout $(DEBUG_TEST_TIMEOUT)

# Style and static checks, with the tools of the kernel source package.
$(BUILD)/scripts/checkpatch.pl:
	mkdir -p $(BUILD)
	tar -xf $(KSRC_TAR) -C $(BUILD) --strip-components=1 --wildcards \
		'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch'

checkpatch: $(BUILD)/scripts/checkpatch.pl
	cd $(ROOT) && perl $< --no-tree --strict --terse -f \
		$$(git ls-files 'net/*.[ch]' 'include/*.h' 'uapi/*.h')

sparse: kdir
	$(KBUILD_MAKE) C=2 W=1 modules

clean:
	$(if $(KDIR),$(MAKE) -C $(KDIR) M=$(ROOT) clean)
	rm -rf $(BUILD)
	-$(MAKE) -C $(ROOT)/selftests/net/mqtt clean
	-$(MAKE) -C $(ROOT)/samples/mqtt clean

# Installing on a gateway (issue 11).  make deb: the mqtt-dkms package
# (debian/, dkms.conf), built from a copy of the sources in $(DEB_BUILD) so
# that neither the tree nor its parent gets dpkg-buildpackage's products;
# needs debhelper and dh-dkms.  debian/changelog has the version; Kbuild
# reads it too, a copy of the sources without debian/ (make check-debug)
# gets it from here.
VERSION := $(shell sed -n '1{s/^[^(]*(\([^)]*\)).*/\1/;p;q}' \
	$(ROOT)/debian/changelog)
export MQTT_VERSION ?= $(VERSION)
DEB_BUILD := $(BUILD)/deb
DEB := $(DEB_BUILD)/mqtt-dkms_$(VERSION)_all.deb

.PHONY: deb
deb:
	rm -rf $(DEB_BUILD)
	mkdir -p $(DEB_BUILD)/mqtt-$(VERSION)
	cd $(ROOT) && find debian dkms.conf Kbuild README.md \
		Documentation/networking net include uapi -type f \
		\( -path 'debian/*' -o -name dkms.conf -o -name Kbuild \
		-o -name '*.[ch]' -o -name '*.md' -o -name '*.rst' \) -print0 | \
		cpio -0 -pdm --quiet $(DEB_BUILD)/mqtt-$(VERSION)
	cd $(DEB_BUILD)/mqtt-$(VERSION) && dpkg-buildpackage -b -us -uc
	@echo "make deb: $(DEB)"

# make check-dkms (as root, on this machine; .ci/run): installs the
# package with apt, checks the DKMS build for every kernel with headers,
# boots each in the VM with the installed module tree (socket() autoload,
# modprobe, the connect tests), purges it and checks that nothing is left.
# See selftests/net/mqtt/vm/dkms-test.sh.
.PHONY: check-dkms check-dkms-run
check-dkms:
	$(VM)/deps.sh dpkg-dev debhelper dh-dkms dkms pkg-config
	$(MAKE) -f $(ROOT)/Makefile check-dkms-run

check-dkms-run: deb tests
	$(VM)/dkms-test.sh --deb $(DEB) --version $(VERSION) \
		--tests "$(filter %/connect,$(TESTS))" \
		--results $(BUILD)/vm/results-dkms
