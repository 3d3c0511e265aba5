/*-------------------------------------------------------------------------
 *
 * distance_settings.h
 *	  Registration of the retrieval.distance_kernel setting.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETRIEVAL_DISTANCE_SETTINGS_H
#define RETRIEVAL_DISTANCE_SETTINGS_H

extern void distance_settings_init(void);

#endif
