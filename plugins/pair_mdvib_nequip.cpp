/* mdvib LAMMPS plugin: pair style mdvib/nequip.
 *
 *   pair_style mdvib/nequip [device auto|cpu|cuda] [threads N]
 *   pair_coeff * * MODEL.nequip.pt2 ELEMENT_OF_TYPE_1 ELEMENT_OF_TYPE_2 ...
 *
 * MODEL is an AOTInductor package written by ``nequip-compile --mode
 * aotinductor`` with the ``pair_nequip`` or ``pair_allegro`` target; the
 * package's metadata says which (``nequip_aoti_inputs``), and gives the cutoff
 * (``r_max``) and the model's type names.
 *
 * pair_allegro target (strictly local models, any number of MPI ranks): the
 * model receives the positions and types of the owned and ghost atoms and one
 * edge i -> j for each owned atom i and each neighbour j (owned or ghost)
 * closer than r_max.  Energies of owned atoms are summed; forces on ghost atoms
 * go back to their owners through LAMMPS' reverse communication (newton_pair
 * on); the virial comes from sum_i r_i f_i over owned and ghost atoms.
 *
 * pair_nequip target (message passing): the model needs the periodic graph of
 * the whole system.  Every ghost neighbour is mapped to the atom it images,
 * and the edge carries the integer lattice shift between them; the model
 * receives the cell and returns the virial itself.  With several MPI ranks
 * the owned atoms and edges of all ranks are gathered (MPI_Allgatherv) and
 * every rank evaluates the whole graph, keeping the forces and energies of its
 * own atoms and 1/nprocs of the virial: correct with domain decomposition,
 * but without a parallel speed-up of the model (replicated data).
 *
 * Before libtorch sees the model, every stored member of the archive is checked
 * against the CRC-32 its zip central directory records (verify_archive): libtorch
 * extracts and dlopens the compiled library without looking, so a damaged copy
 * would otherwise run.  Errors from libtorch are reported as one LAMMPS error
 * with the first line of the exception's message (the rest is its C++ stack).
 *
 * Positions, cell and shifts are passed as float64 whatever the model's own
 * dtype: compiled models given float32 inputs silently return NaN.  Per-atom
 * energies are supported, per-atom virials are not.
 *
 * torch runs with one intra-op thread per MPI rank unless ``threads N`` says
 * otherwise: torch's and LAMMPS' OpenMP runtimes share the cores badly (runs
 * with two threads each were 5-20x slower), and MPI ranks scale better. */

#include "pair_mdvib_nequip.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"
#include "platform.h"
#include "utils.h"

#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>

using namespace LAMMPS_NS;

namespace {

std::vector<std::string> split_words(const std::string &text)
{
  std::istringstream stream(text);
  std::vector<std::string> words;
  std::string word;
  while (stream >> word) words.push_back(word);
  return words;
}

// The first line of an exception's message: c10::Error::what() appends "Exception raised
// from ..." and a dozen frames of C++ stack trace, which a LAMMPS error must not print.
std::string first_line(const std::exception &exc)
{
  const std::string text = exc.what();
  const auto end = text.find_first_of("\r\n");
  return end == std::string::npos ? text : text.substr(0, end);
}

std::uint32_t crc32_update(std::uint32_t crc, const unsigned char *data, std::size_t n)
{
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t k = 0; k < 256; k++) {
      std::uint32_t c = k;
      for (int b = 0; b < 8; b++) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[k] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < n; i++) crc = table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

std::uint64_t little_endian(const unsigned char *p, int bytes)
{
  std::uint64_t value = 0;
  for (int b = bytes - 1; b >= 0; b--) value = (value << 8) | p[b];
  return value;
}

// Check every stored (uncompressed) member of a zip archive against the CRC-32 of its central
// directory entry (ZIP64 records included, as torch writes them).  Returns "" if all match or
// the file is not a zip archive at all (libtorch then says so), else what is wrong, naming the
// member.  Compressed members are left to libtorch (nequip-compile stores everything).
std::string verify_archive(const std::string &path)
{
  std::ifstream file(path, std::ios::binary);
  if (!file) return "";
  file.seekg(0, std::ios::end);
  const std::uint64_t size = static_cast<std::uint64_t>(file.tellg());
  auto read_at = [&](std::uint64_t offset, std::size_t n, std::vector<unsigned char> &out) {
    if (n > size || offset > size - n) return false;
    out.assign(n, 0);
    file.seekg(static_cast<std::streamoff>(offset));
    file.read(reinterpret_cast<char *>(out.data()), static_cast<std::streamsize>(n));
    return static_cast<bool>(file);
  };
  // end of central directory record: within the last 22 + 65535 bytes
  const std::uint64_t tail_size = std::min<std::uint64_t>(size, 22 + 65535);
  std::vector<unsigned char> tail;
  if (tail_size < 22 || !read_at(size - tail_size, tail_size, tail)) return "";
  long eocd = -1;
  for (long i = static_cast<long>(tail_size) - 22; i >= 0; i--)
    if (little_endian(&tail[i], 4) == 0x06054b50u) {
      eocd = i;
      break;
    }
  if (eocd < 0) return "";
  std::uint64_t entries = little_endian(&tail[eocd + 10], 2);
  std::uint64_t cd_size = little_endian(&tail[eocd + 12], 4);
  std::uint64_t cd_offset = little_endian(&tail[eocd + 16], 4);
  std::vector<unsigned char> record;
  const std::uint64_t eocd_at = size - tail_size + static_cast<std::uint64_t>(eocd);
  if (eocd_at >= 20 && read_at(eocd_at - 20, 20, record) && little_endian(&record[0], 4) == 0x07064b50u) {
    const std::uint64_t zip64_at = little_endian(&record[8], 8);
    if (!read_at(zip64_at, 56, record) || little_endian(&record[0], 4) != 0x06064b50u)
      return "its ZIP64 end of central directory record is damaged";
    entries = little_endian(&record[32], 8);
    cd_size = little_endian(&record[40], 8);
    cd_offset = little_endian(&record[48], 8);
  }
  std::vector<unsigned char> cd;
  if (!read_at(cd_offset, cd_size, cd)) return "its central directory lies outside the file";
  std::vector<unsigned char> local, buffer(1 << 20);
  std::size_t at = 0;
  for (std::uint64_t e = 0; e < entries; e++) {
    if (at + 46 > cd.size() || little_endian(&cd[at], 4) != 0x02014b50u)
      return "its central directory is damaged (entry " + std::to_string(e) + ")";
    const unsigned method = little_endian(&cd[at + 10], 2);
    const std::uint32_t crc = little_endian(&cd[at + 16], 4);
    std::uint64_t compressed = little_endian(&cd[at + 20], 4);
    std::uint64_t uncompressed = little_endian(&cd[at + 24], 4);
    const std::size_t name_len = little_endian(&cd[at + 28], 2), extra_len = little_endian(&cd[at + 30], 2),
                      comment_len = little_endian(&cd[at + 32], 2);
    std::uint64_t header = little_endian(&cd[at + 42], 4);
    if (at + 46 + name_len + extra_len > cd.size())
      return "its central directory is damaged (entry " + std::to_string(e) + ")";
    const std::string name(reinterpret_cast<const char *>(&cd[at + 46]), name_len);
    for (std::size_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
      const unsigned id = little_endian(&cd[x], 2), len = little_endian(&cd[x + 2], 2);
      if (id == 0x0001) {    // ZIP64 sizes and offset, those that are 0xFFFFFFFF above
        std::size_t y = x + 4;
        for (std::uint64_t *field : {&uncompressed, &compressed, &header})
          if (*field == 0xFFFFFFFFu && y + 8 <= x + 4 + len) {
            *field = little_endian(&cd[y], 8);
            y += 8;
          }
      }
      x += 4 + len;
    }
    at += 46 + name_len + extra_len + comment_len;
    if (method != 0) continue;
    if (!read_at(header, 30, local) || little_endian(&local[0], 4) != 0x04034b50u)
      return "member '" + name + "' has a damaged local header";
    std::uint64_t offset = header + 30 + little_endian(&local[26], 2) + little_endian(&local[28], 2);
    if (offset > size || compressed > size - offset) return "member '" + name + "' is cut short";
    file.seekg(static_cast<std::streamoff>(offset));
    std::uint32_t sum = 0;
    for (std::uint64_t left = compressed; left > 0;) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buffer.size()));
      file.read(reinterpret_cast<char *>(buffer.data()), static_cast<std::streamsize>(n));
      if (!file) return "member '" + name + "' cannot be read";
      sum = crc32_update(sum, buffer.data(), n);
      left -= n;
    }
    if (sum != crc) return "member '" + name + "' does not match the CRC-32 recorded in the archive";
  }
  return "";
}

std::string metadata_value(const std::unordered_map<std::string, std::string> &metadata,
                           const std::string &key, const std::string &path, Error *error)
{
  auto it = metadata.find(key);
  if (it == metadata.end())
    error->all(FLERR, "pair mdvib/nequip: model {} has no '{}' in its metadata; "
               "is it a nequip-compile --mode aotinductor package?", path, key);
  return it->second;
}

// Call visit(i, j) for every owned atom i and neighbour j (owned or ghost) closer than the
// cutoff, in neighbour-list order.
template <class Visit> void for_each_edge(NeighList *list, double **x, double cutoff, Visit visit)
{
  const double cutoff_sq = cutoff * cutoff;
  for (int ii = 0; ii < list->inum; ii++) {
    const int i = list->ilist[ii];
    const int *neighbours = list->firstneigh[i];
    for (int jj = 0; jj < list->numneigh[i]; jj++) {
      const int j = neighbours[jj] & NEIGHMASK;
      const double dx = x[j][0] - x[i][0], dy = x[j][1] - x[i][1], dz = x[j][2] - x[i][2];
      if (dx * dx + dy * dy + dz * dz < cutoff_sq) visit(i, j);
    }
  }
}

torch::Tensor to_device(const torch::Tensor &tensor, const std::string &device)
{
  return device == "cpu" ? tensor : tensor.to(torch::Device(device));
}

}    // namespace

PairMdvibNequip::PairMdvibNequip(LAMMPS *lmp) : Pair(lmp), target_(Target::PairAllegro), r_max_(0.0),
                                                virial_from_model_(false)
{
  single_enable = 0;
  restartinfo = 0;    // read_restart must not try to recreate the pair style
  one_coeff = 1;
  manybody_flag = 1;
  device_name_ = "auto";
  threads_ = 1;
}

PairMdvibNequip::~PairMdvibNequip()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

void PairMdvibNequip::allocate()
{
  allocated = 1;
  const int n = atom->ntypes;
  memory->create(setflag, n + 1, n + 1, "pair:setflag");
  memory->create(cutsq, n + 1, n + 1, "pair:cutsq");
  for (int i = 1; i <= n; i++)
    for (int j = i; j <= n; j++) setflag[i][j] = 0;
}

void PairMdvibNequip::settings(int narg, char **arg)
{
  int iarg = 0;
  while (iarg < narg) {
    const std::string key = arg[iarg];
    if (key == "device" && iarg + 1 < narg) {
      device_name_ = arg[iarg + 1];
      if (device_name_ != "auto" && device_name_ != "cpu" && device_name_ != "cuda")
        error->all(FLERR, "pair_style mdvib/nequip: device must be auto, cpu or cuda, not '{}'",
                   device_name_);
      iarg += 2;
    } else if (key == "threads" && iarg + 1 < narg) {
      threads_ = utils::inumeric(FLERR, arg[iarg + 1], false, lmp);
      if (threads_ < 1) error->all(FLERR, "pair_style mdvib/nequip: threads must be >= 1");
      iarg += 2;
    } else {
      error->all(FLERR, "pair_style mdvib/nequip: unknown argument '{}' (usage: pair_style "
                 "mdvib/nequip [device auto|cpu|cuda] [threads N])", key);
    }
  }
  torch::set_num_threads(threads_);
}

void PairMdvibNequip::load_model(const std::string &path)
{
  if (!platform::file_is_readable(path))
    error->all(FLERR, "pair mdvib/nequip: cannot read model file '{}'", path);
  const std::string damage = verify_archive(path);
  if (!damage.empty())
    error->all(FLERR, "pair mdvib/nequip: model '{}' is damaged: {}; copy the model again or "
               "recompile it with nequip-compile", path, damage);
  std::unordered_map<std::string, std::string> metadata;
  try {
    metadata = torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(path, "model");
  } catch (const std::exception &exc) {
    error->all(FLERR, "pair mdvib/nequip: '{}' is not an AOTInductor model package: {}", path,
               first_line(exc));
  }
  std::string compiled_for = "cpu";
  auto device_it = metadata.find("AOTI_DEVICE_KEY");
  if (device_it != metadata.end()) compiled_for = device_it->second;
  if (device_name_ == "auto")
    device_name_ = (compiled_for == "cuda" && torch::cuda::is_available()) ? "cuda" : "cpu";
  if (device_name_ != compiled_for)
    error->all(FLERR, "pair mdvib/nequip: model '{}' was compiled for {} but device {} was asked "
               "for; recompile it with nequip-compile --device {}", path, compiled_for,
               device_name_, device_name_);
  const auto inputs = split_words(metadata_value(metadata, "nequip_aoti_inputs", path, error));
  const auto outputs = split_words(metadata_value(metadata, "nequip_aoti_outputs", path, error));
  const std::vector<std::string> nequip_inputs = {"pos", "edge_index", "atom_types", "cell",
                                                  "edge_cell_shift"};
  const std::vector<std::string> allegro_inputs = {"pos", "edge_index", "atom_types"};
  const std::vector<std::string> lammps_outputs = {"atomic_energy", "forces", "virial"};
  const std::vector<std::string> batch_inputs = {"pos", "edge_index", "atom_types", "cell",
                                                 "edge_cell_shift", "batch", "num_atoms"};
  const std::vector<std::string> ase_outputs = {"atomic_energy", "total_energy", "forces", "stress"};
  if (outputs == ase_outputs && (inputs == nequip_inputs || inputs == batch_inputs))
    error->all(FLERR, "pair mdvib/nequip: model '{}' was compiled with nequip-compile --target {} "
               "(for Python, not LAMMPS); compile it with --target pair_nequip or --target "
               "pair_allegro", path, inputs == nequip_inputs ? "ase" : "batch");
  if (inputs == nequip_inputs)
    target_ = Target::PairNequip;
  else if (inputs == allegro_inputs)
    target_ = Target::PairAllegro;
  else
    error->all(FLERR, "pair mdvib/nequip: model '{}' was compiled for inputs '{}'; compile it "
               "with nequip-compile --target pair_nequip or --target pair_allegro", path,
               utils::join_words(inputs, " "));
  if (outputs != lammps_outputs)
    error->all(FLERR, "pair mdvib/nequip: model '{}' returns '{}', expected 'atomic_energy "
               "forces virial' (targets pair_nequip / pair_allegro)", path,
               utils::join_words(outputs, " "));
  auto cutoffs = metadata.find("per_edge_type_cutoff");
  if (cutoffs != metadata.end() && !cutoffs->second.empty())
    error->all(FLERR, "pair mdvib/nequip: model '{}' uses per-edge-type cutoffs, which this pair "
               "style does not support yet", path);
  try {    // extracts the package and dlopens its compiled library
    model_ = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path, "model", false, 1,
                                                                       -1);
  } catch (const std::exception &exc) {
    error->all(FLERR, "pair mdvib/nequip: loading '{}' failed: {}", path, first_line(exc));
  }
  r_max_ = utils::numeric(FLERR, metadata_value(metadata, "r_max", path, error), false, lmp);
  model_type_names_ = split_words(metadata_value(metadata, "type_names", path, error));
  model_path_ = path;
  virial_from_model_ = (target_ == Target::PairNequip);
  no_virial_fdotr_compute = virial_from_model_ ? 1 : 0;
}

void PairMdvibNequip::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg != 3 + ntypes)
    error->all(FLERR, "pair_coeff for mdvib/nequip: expected '* * MODEL' and one element per "
               "atom type ({} types), got {} arguments", ntypes, narg);
  if (std::string(arg[0]) != "*" || std::string(arg[1]) != "*")
    error->all(FLERR, "pair_coeff for mdvib/nequip must be 'pair_coeff * * MODEL ELEMENTS...'");
  load_model(arg[2]);
  type_to_model_.assign(ntypes + 1, -1);
  for (int t = 1; t <= ntypes; t++) {
    const std::string element = arg[2 + t];
    for (std::size_t k = 0; k < model_type_names_.size(); k++)
      if (model_type_names_[k] == element) type_to_model_[t] = static_cast<long>(k);
    if (type_to_model_[t] < 0)
      error->all(FLERR, "pair_coeff for mdvib/nequip: atom type {} is '{}', which model '{}' "
                 "does not know (its types: {})", t, element, model_path_,
                 utils::join_words(model_type_names_, " "));
  }
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) setflag[i][j] = 1;
}

void PairMdvibNequip::init_style()
{
  if (atom->tag_enable == 0) error->all(FLERR, "pair style mdvib/nequip requires atom IDs");
  if (target_ == Target::PairAllegro && force->newton_pair == 0)
    error->all(FLERR, "pair style mdvib/nequip with an Allegro model requires newton pair on");
  neighbor->add_request(this, NeighConst::REQ_FULL);
}

double PairMdvibNequip::init_one(int, int)
{
  return r_max_;
}

void PairMdvibNequip::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  if (vflag_atom)
    error->all(FLERR, "pair style mdvib/nequip does not compute per-atom virials "
               "(compute stress/atom)");
  if (target_ == Target::PairNequip)
    compute_periodic_graph(eflag, vflag);    // collective: every rank takes part
  else if (atom->nlocal > 0)
    compute_ghost_graph(eflag, vflag);
  if (vflag_fdotr) virial_fdotr_compute();
}

void PairMdvibNequip::compute_ghost_graph(int eflag, int vflag)
{
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  double **x = atom->x;
  const int *type = atom->type;

  std::vector<long> edges;
  edges.reserve(static_cast<std::size_t>(list->inum) * 64);
  for_each_edge(list, x, r_max_, [&](int i, int j) {
    edges.push_back(i);
    edges.push_back(j);
  });
  const long n_edges = static_cast<long>(edges.size() / 2);
  std::vector<long> types(nall);
  for (int i = 0; i < nall; i++) types[i] = type_to_model_[type[i]];

  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  torch::Tensor pos = torch::from_blob(x[0], {nall, 3}, f64).clone();
  torch::Tensor edge_index =
      torch::from_blob(edges.data(), {n_edges, 2}, i64).transpose(0, 1).contiguous();
  torch::Tensor atom_types = torch::from_blob(types.data(), {nall}, i64).clone();

  std::vector<torch::Tensor> outputs;
  try {
    outputs = model_->run({to_device(pos, device_name_), to_device(edge_index, device_name_),
                           to_device(atom_types, device_name_)});
  } catch (const std::exception &exc) {
    error->one(FLERR, "pair mdvib/nequip: model '{}' failed at step {}: {}", model_path_,
               update->ntimestep, first_line(exc));
  }
  torch::Tensor energy = outputs[0].to(torch::kCPU, torch::kFloat64).contiguous();
  torch::Tensor force = outputs[1].to(torch::kCPU, torch::kFloat64).contiguous();
  std::vector<double> energies(energy.data_ptr<double>(), energy.data_ptr<double>() + nlocal);
  std::vector<double> forces(force.data_ptr<double>(), force.data_ptr<double>() + 3 * nall);
  accumulate(energies, forces, nall, nullptr, 0.0, eflag, vflag);
}

void PairMdvibNequip::compute_periodic_graph(int eflag, int vflag)
{
  const int nlocal = atom->nlocal;
  const int nprocs = comm->nprocs;
  double **x = atom->x;
  const int *type = atom->type;
  const tagint *tag = atom->tag;
  const double *h = domain->h;            // xprd yprd zprd yz xz xy
  const double *h_inv = domain->h_inv;    // the same for the inverse

  // Replicated data: every rank gathers the owned atoms of all ranks (ids, types, positions)
  // and the edges each rank found, and evaluates the whole periodic graph.
  std::vector<int> counts(nprocs), displs(nprocs), counts3(nprocs), displs3(nprocs);
  MPI_Allgather(&nlocal, 1, MPI_INT, counts.data(), 1, MPI_INT, world);
  int natoms = 0;
  for (int p = 0; p < nprocs; p++) {
    displs[p] = natoms;
    natoms += counts[p];
    counts3[p] = 3 * counts[p];
    displs3[p] = 3 * displs[p];
  }
  std::vector<tagint> all_tag(natoms);
  std::vector<int> local_type(type, type + nlocal), all_type(natoms);
  std::vector<double> local_x(3 * static_cast<std::size_t>(nlocal)), all_x(3 * static_cast<std::size_t>(natoms));
  for (int i = 0; i < nlocal; i++)
    for (int d = 0; d < 3; d++) local_x[3 * i + d] = x[i][d];
  MPI_Allgatherv(tag, nlocal, MPI_LMP_TAGINT, all_tag.data(), counts.data(), displs.data(),
                 MPI_LMP_TAGINT, world);
  MPI_Allgatherv(local_type.data(), nlocal, MPI_INT, all_type.data(), counts.data(), displs.data(),
                 MPI_INT, world);
  MPI_Allgatherv(local_x.data(), 3 * nlocal, MPI_DOUBLE, all_x.data(), counts3.data(),
                 displs3.data(), MPI_DOUBLE, world);
  tagint max_tag = 0;
  for (tagint t : all_tag) max_tag = std::max(max_tag, t);
  std::vector<long> index_of_tag(max_tag + 1, -1);
  for (int k = 0; k < natoms; k++) index_of_tag[all_tag[k]] = k;

  // edges of this rank's atoms in the gathered numbering; a ghost neighbour becomes the atom it
  // images, with the lattice shift n: x_ghost - x_atom = n0 a + n1 b + n2 c (LAMMPS cell vectors)
  std::vector<long> edges;
  std::vector<double> shifts;
  edges.reserve(static_cast<std::size_t>(list->inum) * 64);
  shifts.reserve(static_cast<std::size_t>(list->inum) * 96);
  for_each_edge(list, x, r_max_, [&](int i, int j) {
    const long image_of = tag[j] <= max_tag ? index_of_tag[tag[j]] : -1;
    if (image_of < 0)
      error->one(FLERR, "pair mdvib/nequip: neighbour atom {} of atom {} is not an atom of the "
                 "system", tag[j], tag[i]);
    const double sx = x[j][0] - all_x[3 * image_of], sy = x[j][1] - all_x[3 * image_of + 1],
                 sz = x[j][2] - all_x[3 * image_of + 2];
    edges.push_back(index_of_tag[tag[i]]);
    edges.push_back(image_of);
    shifts.push_back(std::round(h_inv[0] * sx + h_inv[5] * sy + h_inv[4] * sz));
    shifts.push_back(std::round(h_inv[1] * sy + h_inv[3] * sz));
    shifts.push_back(std::round(h_inv[2] * sz));
  });
  const int local_edges = static_cast<int>(edges.size() / 2);
  std::vector<int> edge_counts(nprocs), edge_displs(nprocs), shift_counts(nprocs),
      shift_displs(nprocs);
  MPI_Allgather(&local_edges, 1, MPI_INT, edge_counts.data(), 1, MPI_INT, world);
  long n_edges = 0;
  for (int p = 0; p < nprocs; p++) {
    edge_displs[p] = static_cast<int>(2 * n_edges);
    shift_displs[p] = static_cast<int>(3 * n_edges);
    n_edges += edge_counts[p];
    shift_counts[p] = 3 * edge_counts[p];
    edge_counts[p] *= 2;
  }
  std::vector<long> all_edges(2 * n_edges);
  std::vector<double> all_shifts(3 * n_edges);
  MPI_Allgatherv(edges.data(), 2 * local_edges, MPI_LONG, all_edges.data(), edge_counts.data(),
                 edge_displs.data(), MPI_LONG, world);
  MPI_Allgatherv(shifts.data(), 3 * local_edges, MPI_DOUBLE, all_shifts.data(), shift_counts.data(),
                 shift_displs.data(), MPI_DOUBLE, world);

  std::vector<long> types(natoms);
  for (int k = 0; k < natoms; k++) types[k] = type_to_model_[all_type[k]];
  // cell rows are the lattice vectors a, b, c
  double cell[9] = {h[0], 0.0, 0.0, h[5], h[1], 0.0, h[4], h[3], h[2]};

  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  torch::Tensor pos = torch::from_blob(all_x.data(), {natoms, 3}, f64);
  torch::Tensor edge_index =
      torch::from_blob(all_edges.data(), {n_edges, 2}, i64).transpose(0, 1).contiguous();
  torch::Tensor atom_types = torch::from_blob(types.data(), {natoms}, i64);
  torch::Tensor cell_tensor = torch::from_blob(cell, {3, 3}, f64);
  torch::Tensor shift_tensor = torch::from_blob(all_shifts.data(), {n_edges, 3}, f64);

  std::vector<torch::Tensor> outputs;
  try {
    outputs = model_->run({to_device(pos, device_name_), to_device(edge_index, device_name_),
                           to_device(atom_types, device_name_), to_device(cell_tensor, device_name_),
                           to_device(shift_tensor, device_name_)});
  } catch (const std::exception &exc) {
    error->one(FLERR, "pair mdvib/nequip: model '{}' failed at step {}: {}", model_path_,
               update->ntimestep, first_line(exc));
  }
  torch::Tensor energy = outputs[0].to(torch::kCPU, torch::kFloat64).contiguous();
  torch::Tensor force = outputs[1].to(torch::kCPU, torch::kFloat64).contiguous();
  torch::Tensor virial = outputs[2].to(torch::kCPU, torch::kFloat64).contiguous();
  const double *all_energy = energy.data_ptr<double>();
  const double *all_force = force.data_ptr<double>();
  std::vector<double> energies(nlocal), forces(3 * static_cast<std::size_t>(nlocal));
  for (int i = 0; i < nlocal; i++) {
    const long k = index_of_tag[tag[i]];
    energies[i] = all_energy[k];
    for (int d = 0; d < 3; d++) forces[3 * i + d] = all_force[3 * k + d];
  }
  // each rank holds the whole system's virial: its share is 1/nprocs of it
  accumulate(energies, forces, nlocal, virial.data_ptr<double>(), 1.0 / nprocs, eflag, vflag);
}

void PairMdvibNequip::accumulate(const std::vector<double> &energy, const std::vector<double> &force,
                                 int n_force, const double *model_virial, double virial_share,
                                 int eflag, int vflag)
{
  double **f = atom->f;
  for (int i = 0; i < n_force; i++) {
    f[i][0] += force[3 * i];
    f[i][1] += force[3 * i + 1];
    f[i][2] += force[3 * i + 2];
  }
  if (eflag_global)
    for (double e : energy) eng_vdwl += e;
  if (eflag_atom)
    for (std::size_t i = 0; i < energy.size(); i++) eatom[i] += energy[i];
  if (vflag_global && model_virial != nullptr) {
    // model virial W_ab = -dE/d(strain_ab), row-major 3x3; LAMMPS order xx yy zz xy xz yz
    virial[0] += virial_share * model_virial[0];
    virial[1] += virial_share * model_virial[4];
    virial[2] += virial_share * model_virial[8];
    virial[3] += virial_share * model_virial[1];
    virial[4] += virial_share * model_virial[2];
    virial[5] += virial_share * model_virial[5];
  }
  (void) eflag;
  (void) vflag;
}
