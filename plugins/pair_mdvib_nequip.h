/* mdvib LAMMPS plugin: pair style mdvib/nequip.
 *
 * Evaluates a deployed NequIP or Allegro model (an AOTInductor package,
 * ``*.nequip.pt2`` from ``nequip-compile --mode aotinductor``) through
 * libtorch.  See pair_mdvib_nequip.cpp for the input conventions. */

#ifndef MDVIB_PAIR_NEQUIP_H
#define MDVIB_PAIR_NEQUIP_H

#include "pair.h"

#include <memory>
#include <string>
#include <vector>

namespace torch::inductor {
class AOTIModelPackageLoader;
}

namespace LAMMPS_NS {

class PairMdvibNequip : public Pair {
 public:
  PairMdvibNequip(class LAMMPS *);
  ~PairMdvibNequip() override;
  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;

 private:
  enum class Target { PairNequip, PairAllegro };

  void allocate();
  void load_model(const std::string &path);
  void compute_periodic_graph(int eflag, int vflag);
  void compute_ghost_graph(int eflag, int vflag);
  void accumulate(const std::vector<double> &energy, const std::vector<double> &force, int n_force,
                  const double *model_virial, double virial_share, int eflag, int vflag);

  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> model_;
  std::string model_path_;
  std::string device_name_;    // "cpu" or "cuda"
  int threads_;                // torch intra-op threads per rank
  Target target_;
  double r_max_;
  std::vector<std::string> model_type_names_;
  std::vector<long> type_to_model_;    // LAMMPS type (1-based) -> model type index
  bool virial_from_model_;
};

}    // namespace LAMMPS_NS

#endif
