/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mqtt_family.h - the address family number of the loaded AF_MQTT module.
 *
 * AF_MQTT has no number of its own in mainline; the module parameter
 * "family" may have moved it from AF_MQTT, so ask the loaded module first.
 */
#ifndef MQTT_FAMILY_H
#define MQTT_FAMILY_H

#include <stdio.h>

#include <linux/mqtt.h>

#define MQTT_FAMILY_PARAM	"/sys/module/mqtt/parameters/family"

static inline int mqtt_family(void)
{
	FILE *f = fopen(MQTT_FAMILY_PARAM, "r");
	int family;

	if (!f)
		return AF_MQTT;
	if (fscanf(f, "%d", &family) != 1 || family <= 0)
		family = AF_MQTT;
	fclose(f);
	return family;
}

#endif /* MQTT_FAMILY_H */
